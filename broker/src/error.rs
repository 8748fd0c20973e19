//! `ApiError`: a Kafka error code plus an optional message, the currency in which every
//! layer reports a failure that ends up in a response.

pub(crate) use kafka_protocol::error::ResponseError;
use kafka_protocol::protocol::StrBytes;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
pub(crate) struct ApiError {
    pub code: ResponseError,
    pub message: Option<String>,
    /// KIP-467: the records of a produced batch that caused the failure (ascending batch
    /// indexes). Only record-level produce validation fills it; the produce handler shapes
    /// it into the partition's `record_errors`.
    pub record_errors: Vec<RecordError>,
}

/// One rejected record of a produced batch: its position in the batch and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// Index of the record within its batch (0 = the first record).
    pub batch_index: i32,
    pub message: String,
}

impl ApiError {
    pub(crate) fn new(code: ResponseError, message: impl Into<String>) -> Self {
        Self {
            code,
            message: Some(message.into()),
            record_errors: Vec::new(),
        }
    }

    pub(crate) fn code_only(code: ResponseError) -> Self {
        Self {
            code,
            message: None,
            record_errors: Vec::new(),
        }
    }

    /// An error naming the records of a batch that caused it (KIP-467).
    pub(crate) fn with_record_errors(mut self, record_errors: Vec<RecordError>) -> Self {
        self.record_errors = record_errors;
        self
    }

    pub(crate) fn error_code(&self) -> i16 {
        self.code.code()
    }

    /// The message as a response's `error_message` field carries it.
    pub(crate) fn error_message(&self) -> Option<StrBytes> {
        self.message
            .as_deref()
            .map(|m| StrBytes::from_string(m.to_owned()))
    }
}

impl From<ResponseError> for ApiError {
    fn from(code: ResponseError) -> Self {
        Self::code_only(code)
    }
}
