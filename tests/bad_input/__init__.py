"""The bad-input corpus: malformed exports, hostile media paths and poison records on the topic."""
