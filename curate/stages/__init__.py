"""Every registered stage, one family per folder: the folder is the stage name's prefix."""
