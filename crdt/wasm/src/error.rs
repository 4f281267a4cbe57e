//! Every error thrown to JavaScript: a plain `Error` whose `message` is the
//! core's and whose `code` property is a stable name to branch on.

use collab_crdt::Error;
use collab_crdt::sync::SessionError;
use js_sys::Reflect;
use wasm_bindgen::JsValue;

/// The error name JavaScript sees (`err.name`).
const NAME: &str = "CollabError";

/// Code for a value of the wrong shape handed in from JavaScript.
const INVALID_ARGUMENT: &str = "invalid_argument";

/// A JS `Error` with `name`, `message` and `code`.
pub(crate) fn js_error(code: &str, message: &str) -> JsValue {
    let err = js_sys::Error::new(message);
    err.set_name(NAME);
    // Setting a property on a fresh plain object cannot fail.
    let _ = Reflect::set(&err, &JsValue::from_str("code"), &JsValue::from_str(code));
    err.into()
}

pub(crate) fn crdt(err: Error) -> JsValue {
    js_error(err.code(), &err.to_string())
}

pub(crate) fn session(err: SessionError) -> JsValue {
    js_error(err.code(), &err.to_string())
}

/// A value from JavaScript that does not have the shape the API documents
/// (an operation without `kind`, a version that is not a `Map`, ...).
pub(crate) fn argument(what: &str, err: impl core::fmt::Display) -> JsValue {
    js_error(INVALID_ARGUMENT, &format!("{what}: {err}"))
}

/// A value that could not be handed to JavaScript. Only numbers above 2^53
/// can cause it, and the core never makes those.
pub(crate) fn output(err: impl core::fmt::Display) -> JsValue {
    js_error(
        "internal_error",
        &format!("cannot convert to JavaScript: {err}"),
    )
}
