"""Storage: the client SQL database (SQLAlchemy) and the server Redis buffer."""
