"""The archiver: scheduled retention (plan → lifecycle requests) and the blob archive tier."""
