"""The territory's public side: the static site (archive, issue pages, images, agenda files,
feeds), publishing it, and the small web application that serves it with the unsubscribe
endpoint (`comms serve`)."""
