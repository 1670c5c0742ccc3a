"""The sandbox bank that ``kaimen demo`` seeds and serves (DESIGN.md, "Sandbox contract")."""
