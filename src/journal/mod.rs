//! The run journal: an embedded SQLite database recording intent before and outcome after every request.
