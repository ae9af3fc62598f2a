//! Thin HTTP handlers: guards, one service call, one responder. No SQL, no backend choice.

mod account;
mod admin;
mod api;
mod architecture;
mod catchers;
mod conditional;
pub mod flash;
mod guards;
mod health;
mod media;
mod my_account;
mod pages;
mod photos;
mod refused;
mod respond;
mod upload_form;

pub use catchers::catchers;
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
        admin::traffic,
        architecture::architecture,
    ]
}
