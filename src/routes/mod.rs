//! Thin HTTP handlers: guards, one service call, one responder. No SQL, no backend choice.
//! The web framework's side of everything lives here: guards, fairings, responders and the
//! domain's ids as path parameters.

mod account;
mod admin;
mod api;
mod architecture;
mod catchers;
mod conditional;
mod error_page;
mod fairings;
pub mod flash;
mod guards;
mod health;
mod media;
mod my_account;
mod pages;
mod params;
mod photos;
mod refused;
mod respond;
mod upload_form;
mod visitor;

pub use catchers::catchers;
pub use fairings::{AccessLogFairing, RequestMetrics};
pub(crate) use pages::frame;
pub use respond::{SecurityHeaders, templates};

use rocket::Route;

pub fn routes() -> Vec<Route> {
    rocket::routes![
        pages::index,
        pages::photo,
        pages::login_form,
        pages::register_form,
        pages::user,
        my_account::account,
        my_account::change_password,
        my_account::delete_account,
        account::register,
        account::login,
        account::logout,
        photos::upload_page,
        photos::upload,
        photos::confirm_delete,
        photos::delete,
        photos::edit,
        api::photos,
        media::media,
        media::static_file,
        health::healthz,
        health::readyz,
        health::metrics,
        health::robots,
        admin::traffic,
        architecture::architecture,
    ]
}
