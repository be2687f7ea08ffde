"""Default templates of comms, shipped in the package (a territory may override them
in its own templates/ folder)."""
