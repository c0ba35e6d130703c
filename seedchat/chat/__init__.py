"""One turn: the session, the one answer path, the tool loop, files that do not fit, the prompt's size, a reply in its own thread."""
