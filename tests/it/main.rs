//! The integration tests, one binary: linking the whole crate once instead of once per file.
//! Modules group by what they drive, so one filter selects a suite
//! (`cargo test --test it -- http::` is the HTTP suite that tests/run.sh runs per profile).

mod common;

mod cli {
    mod binary;
    mod crash;
    mod data;
    mod edges;
    mod levels;
    mod migrate;
    mod traffic;
}

mod contract {
    mod cache;
    mod counters;
    mod repo;
    mod roster;
    mod sessions;
    mod store;
}

mod fleet {
    mod faults;
    mod instances;
    mod tls;
}

mod http {
    mod access_log;
    mod account;
    mod architecture;
    mod auth;
    mod connect;
    mod hostile_images;
    mod kinesis;
    mod media;
    mod metrics;
    mod pages;
    mod photos;
    mod ux;
}

mod kinesis_sink;
