//! `ApiError`: a Kafka error code plus an optional message, the currency in which every
//! layer reports a failure that ends up in a response.

pub use kafka_protocol::error::ResponseError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
pub struct ApiError {
    pub code: ResponseError,
    pub message: Option<String>,
}

impl ApiError {
    pub fn new(code: ResponseError, message: impl Into<String>) -> Self {
        Self {
            code,
            message: Some(message.into()),
        }
    }

    pub fn code_only(code: ResponseError) -> Self {
        Self {
            code,
            message: None,
        }
    }

    pub fn error_code(&self) -> i16 {
        self.code.code()
    }
}

impl From<ResponseError> for ApiError {
    fn from(code: ResponseError) -> Self {
        Self::code_only(code)
    }
}
