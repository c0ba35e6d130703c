"""Tools seedchat has built in (no server to install): python, files, fetch."""
