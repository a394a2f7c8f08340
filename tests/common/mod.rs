pub mod engine_fixture;
