//! `Operation`: one route of the admin API with everything said about it: method, path, handler,
//! who may call it, its body limit, and its OpenAPI description. `routes::operations()` is the
//! one list of them; the router (`routes::router`) and the OpenAPI document (`openapi::document`)
//! are both built from it, so a route cannot be served undocumented or documented unserved.

use axum::handler::Handler;
use axum::routing::{MethodFilter, MethodRouter};
use serde_json::{Value, json};

use crate::state::AppState;

/// An HTTP method the admin API uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `DELETE`.
    Delete,
}

impl Verb {
    /// The lower-case name OpenAPI uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Post => "post",
            Verb::Put => "put",
            Verb::Delete => "delete",
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
            Verb::Post => MethodFilter::POST,
            Verb::Put => MethodFilter::PUT,
            Verb::Delete => MethodFilter::DELETE,
        }
    }
}

/// Where a parameter goes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum In {
    Path,
    Query,
}

/// The values a parameter takes, as the handler checks them (the document says the same, so
/// generated requests mostly pass validation and reach the handler's logic).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Values {
    /// An integer in `min..=max`.
    Integer { min: i64, max: i64 },
    /// Any text.
    Text,
    /// `true` or `false`.
    Boolean,
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// An RFC 3339 time.
    DateTime,
}

impl Values {
    /// A database id: a positive integer.
    pub(crate) const ID: Values = Values::Integer {
        min: 1,
        max: i64::MAX,
    };

    /// The JSON Schema of these values.
    pub(crate) fn schema(self) -> Value {
        match self {
            Values::Integer { min, max } if max == i64::MAX => {
                json!({"type": "integer", "minimum": min})
            }
            Values::Integer { min, max } => {
                json!({"type": "integer", "minimum": min, "maximum": max})
            }
            Values::Text => json!({"type": "string"}),
            Values::Boolean => json!({"type": "boolean"}),
            Values::OneOf(words) => json!({"type": "string", "enum": words}),
            Values::DateTime => json!({"type": "string", "format": "date-time"}),
        }
    }
}

/// One parameter of an operation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Param {
    pub(crate) place: In,
    pub(crate) name: &'static str,
    pub(crate) values: Values,
    pub(crate) required: bool,
    pub(crate) description: &'static str,
}

impl Param {
    /// A required path parameter.
    pub(crate) const fn path(
        name: &'static str,
        values: Values,
        description: &'static str,
    ) -> Param {
        Param {
            place: In::Path,
            name,
            values,
            required: true,
            description,
        }
    }

    /// An optional query parameter.
    pub(crate) const fn query(
        name: &'static str,
        values: Values,
        description: &'static str,
    ) -> Param {
        Param {
            place: In::Query,
            name,
            values,
            required: false,
            description,
        }
    }

    /// The same parameter, required.
    pub(crate) const fn required(self) -> Param {
        Param {
            required: true,
            ..self
        }
    }
}

/// The body of a successful answer.
#[derive(Clone, Copy)]
pub(crate) enum Answer {
    /// `{code: 0, message, data}`.
    Envelope,
    /// A file: `(content type, description)`.
    File(&'static str, &'static str),
    /// JSON of its own shape (not enveloped).
    Json(fn() -> Value),
    /// `POST /api/auth/login`: `{success, message}` for 200, 400 and 401.
    Login,
}

/// Who may call an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Anyone who reaches the port (the routes outside `/api` are all public).
    Public,
    /// Holders of `AUTH_KEY`; a successful write announces the new configuration revision.
    Admin,
}

/// One route of the admin API.
pub struct Operation {
    pub(crate) verb: Verb,
    /// The full path, `/api/…` or one of the routes outside it.
    pub(crate) path: &'static str,
    pub(crate) handler: MethodRouter<AppState>,
    pub(crate) access: Access,
    /// The route's own body limit (`None`: the API's, `routes::API_BODY_LIMIT`).
    pub(crate) body_limit: Option<usize>,
    pub(crate) tag: &'static str,
    pub(crate) summary: &'static str,
    pub(crate) params: &'static [Param],
    /// The JSON body it takes.
    pub(crate) body: Option<fn() -> Value>,
    /// The `data` of the success envelope (`None`: `data` is omitted or free-form).
    pub(crate) data: Option<fn() -> Value>,
    pub(crate) answer: Answer,
}

impl Operation {
    /// An admin-only operation answering the JSON envelope, without parameters or body; the
    /// builder methods below say the rest.
    pub(crate) fn new<H, T>(
        verb: Verb,
        path: &'static str,
        tag: &'static str,
        summary: &'static str,
        handler: H,
    ) -> Operation
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        Operation {
            verb,
            path,
            handler: axum::routing::on(verb.filter(), handler),
            access: Access::Admin,
            body_limit: None,
            tag,
            summary,
            params: &[],
            body: None,
            data: None,
            answer: Answer::Envelope,
        }
    }

    /// Its parameters.
    pub(crate) fn params(self, params: &'static [Param]) -> Operation {
        Operation { params, ..self }
    }

    /// The JSON body it takes.
    pub(crate) fn body(self, body: fn() -> Value) -> Operation {
        Operation {
            body: Some(body),
            ..self
        }
    }

    /// The `data` of its success envelope.
    pub(crate) fn data(self, data: fn() -> Value) -> Operation {
        Operation {
            data: Some(data),
            ..self
        }
    }

    /// A success that is not the envelope.
    pub(crate) fn answer(self, answer: Answer) -> Operation {
        Operation { answer, ..self }
    }

    /// Callable without `AUTH_KEY`.
    pub(crate) fn public(self) -> Operation {
        Operation {
            access: Access::Public,
            ..self
        }
    }

    /// A body limit of its own.
    pub(crate) fn body_limit(self, bytes: usize) -> Operation {
        Operation {
            body_limit: Some(bytes),
            ..self
        }
    }

    /// `(method, path)`, as the OpenAPI document names it.
    pub fn route(&self) -> (&'static str, &'static str) {
        (self.verb.as_str(), self.path)
    }
}
