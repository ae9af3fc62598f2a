//! Thin HTTP handlers: guards, one service call, one responder. No SQL, no backend choice.

mod account;
mod admin;
mod api;
mod architecture;
mod catchers;
mod conditional;
mod guards;
mod health;
mod media;
mod pages;
mod photos;
mod respond;
mod upload_form;

pub use catchers::catchers;
pub use respond::SecurityHeaders;

use rocket::Route;

pub fn routes() -> Vec<Route> {
    rocket::routes![
        pages::index,
        pages::photo,
        pages::login_form,
        pages::register_form,
        account::register,
        account::login,
        account::logout,
        photos::upload,
        photos::delete,
        api::photos,
        media::media,
        media::static_file,
        health::healthz,
        health::readyz,
        health::metrics,
        admin::traffic,
        architecture::architecture,
    ]
}
