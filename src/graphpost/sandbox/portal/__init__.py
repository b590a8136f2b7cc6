"""The portal: every mailbox, outbound mail, drive, sharing link and request of the sandbox, in a browser."""
