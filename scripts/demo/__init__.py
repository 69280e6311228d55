"""`make demo`: the real stack, a moving demo shop, and each alert printed as it arrives."""
