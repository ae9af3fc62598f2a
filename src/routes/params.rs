//! The domain's ids as path segments and form fields: the domain knows no web framework, so its
//! types learn Rocket's traits here.

use rocket::form::{self, FromFormField, ValueField};
use rocket::request::FromParam;

use crate::domain::{PhotoId, UserId};

macro_rules! id_param {
    ($name:ident) => {
        impl<'v> FromFormField<'v> for $name {
            fn from_value(field: ValueField<'v>) -> form::Result<'v, Self> {
                Self::parse(field.value).ok_or_else(|| form::Error::validation("not a valid id").into())
            }
        }

        impl<'a> FromParam<'a> for $name {
            type Error = &'a str;
            fn from_param(param: &'a str) -> Result<Self, Self::Error> {
                Self::parse(param).ok_or(param)
            }
        }
    };
}

id_param!(PhotoId);
id_param!(UserId);
