//! `mailferry`: argv -> run -> exit code. All the work is in the library.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
