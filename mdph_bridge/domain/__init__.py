"""Pure logic: no Flask, no database."""
