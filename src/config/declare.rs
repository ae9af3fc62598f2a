//! The `settings!` macro: one table entry per key makes the `Settings` field, its reading and
//! checking, its default and its documentation (the table itself is in `config`).

use figment::value::Value;

/// One key as declared: the README's configuration table and `stratus config` are made of these.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    pub name: &'static str,
    /// One line, Markdown.
    pub doc: &'static str,
    /// What the default is computed from when the key is left unset (`data_dir`, ...).
    pub derived_from: Option<&'static str>,
}

/// Runs an entry's `parse` step; a function, so that the closure's argument type is known.
pub(super) fn parse<R, T>(raw: R, parse: impl FnOnce(R) -> Result<T, String>) -> Result<T, String> {
    parse(raw)
}

/// A declared default as a figment value; `None` for an unset one.
pub(super) fn default_value<T: serde::Serialize>(key: &str, value: &T) -> Result<Option<Value>, super::ConfigError> {
    let value = Value::serialize(value).map_err(|e| super::ConfigError::new(key, e.to_string()))?;
    Ok((!matches!(value, Value::Empty(..))).then_some(value))
}

/// The first of two token trees given, else the second: an entry's `raw` type or `parse` step
/// when it has one.
macro_rules! either {
    ($given:ty ; $otherwise:ty) => {
        $given
    };
    (; $otherwise:ty) => {
        $otherwise
    };
}

macro_rules! either_expr {
    ($given:expr ; $otherwise:expr) => {
        $given
    };
    (; $otherwise:expr) => {
        $otherwise
    };
}

/// Declares every setting. An entry:
///
/// ```text
/// /// One line of documentation (the README's "meaning").
/// field: FieldType { key: "key", raw: TypeRead, default: value_of_TypeRead,
///                    parse: |raw| -> Result<FieldType, String>, derived: "other_key" },
/// ```
///
/// `raw` (the type the configuration is read as, parsed by its `Deserialize`) defaults to the
/// field's type and `parse` (conversion and validation) to the value as read; `parse` may use
/// the fields declared above its own. `derived` names what an unset key's value is computed
/// from, for `stratus config`.
macro_rules! settings {
    ($(
        $(#[doc = $doc:literal])+
        $field:ident : $ty:ty {
            key: $key:literal
            $(, raw: $raw:ty)?
            , default: $default:expr
            $(, parse: $parse:expr)?
            $(, derived: $derived:literal)?
            $(,)?
        }
    ),* $(,)?) => {
        /// Validated settings: one field per key of the table in `config`.
        #[derive(Debug, Clone)]
        pub struct Settings {
            $( $(#[doc = $doc])+ pub $field: $ty, )*
            /// The figment profile (`single`, `fleet`), shown to teachers.
            pub profile: String,
        }

        /// Every key, in the table's order.
        pub const KEYS: &[$crate::config::declare::Key] = &[$(
            $crate::config::declare::Key {
                name: $key,
                doc: concat!($($doc),+),
                derived_from: either_expr!($(Some($derived))? ; None),
            }
        ),*];

        /// The declared defaults, as the lowest configuration layer; unset keys are left out.
        pub fn defaults() -> Result<figment::value::Dict, ConfigError> {
            let mut dict = figment::value::Dict::new();
            $(
                let value: either!($($raw)? ; $ty) = $default;
                if let Some(value) = $crate::config::declare::default_value($key, &value)? {
                    dict.insert($key.to_owned(), value);
                }
            )*
            Ok(dict)
        }

        impl Settings {
            /// Reads, parses and checks every key of the figment's selected profile; the first
            /// problem is returned naming its key.
            pub fn from_figment(figment: &figment::Figment) -> Result<Self, ConfigError> {
                let data: figment::value::Dict = figment.extract().map_err(|e| {
                    let key = e.path.last().cloned().unwrap_or_else(|| "(root)".into());
                    ConfigError::new(&key, e.kind.to_string())
                })?;
                refuse_removed_keys(&data)?;
                $(
                    let raw: either!($($raw)? ; $ty) = match data.get($key) {
                        Some(value) => value
                            .deserialize()
                            .map_err(|e: figment::Error| ConfigError::new($key, e.kind.to_string()))?,
                        None => $default,
                    };
                    let $field: $ty = $crate::config::declare::parse(raw, either_expr!($($parse)? ; |raw| Ok(raw)))
                        .map_err(|problem| ConfigError::new($key, problem))?;
                )*
                Ok(Self { $($field,)* profile: figment.profile().to_string() })
            }

            /// The effective value of every key declared `derived`, as `stratus config` shows
            /// it when the key is left to its default.
            pub(crate) fn derived(&self) -> Vec<(&'static str, figment::value::Value)> {
                let mut derived = Vec::new();
                $($(
                    let _: &str = $derived;
                    if let Ok(value) = figment::value::Value::serialize(&self.$field) {
                        derived.push(($key, value));
                    }
                )?)*
                derived
            }
        }
    };
}
