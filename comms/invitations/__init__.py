"""The invitation workflow: who gets which version of each event (`plan`), the RFC 6047
messages (`imip`) and the journée's other steps (`sequence`), above the iCalendar format
layer of `comms.calendar` and beside the newsletter's workflow."""
