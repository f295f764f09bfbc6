"""Scripts and data builders the tests share (not tests themselves)."""
