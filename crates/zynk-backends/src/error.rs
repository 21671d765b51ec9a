//! Errors of the durable store.

/// What can go wrong in a [`crate::Store`] call. Unique-constraint violations that callers act on
/// have variants of their own; everything else is [`StoreError::Database`], never "not found".
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The username is taken (compared case-insensitively).
    #[error("username is taken")]
    UsernameTaken,
    /// The device fingerprint belongs to another account.
    #[error("device fingerprint belongs to another account")]
    FingerprintTaken,
    /// A stored value could not be decoded (corrupt row or schema mismatch).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// A write whose parts disagree or that cannot be encoded (a caller's mistake); nothing was
    /// written.
    #[error("invalid write: {0}")]
    InvalidWrite(String),
    /// The database failed or is unreachable.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// True when the database could not be reached (as opposed to a query failing).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Database(
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed
            )
        )
    }
}

/// The name of the unique constraint or index a database error violated, if any.
pub(crate) fn violated_unique(err: &sqlx::Error) -> Option<String> {
    let db = err.as_database_error()?;
    if !matches!(db.kind(), sqlx::error::ErrorKind::UniqueViolation) {
        return None;
    }
    // PostgreSQL names the constraint; SQLite puts the columns into the message.
    Some(
        db.constraint()
            .map(str::to_owned)
            .unwrap_or_else(|| db.message().to_owned()),
    )
}
