//! The `stampede` binary: parse the command line, hand it to the composition root, exit with
//! its code. Only this function ends the process.

use std::process::ExitCode;

use clap::Parser;

use stampede::cli::{Cli, with_default_subcommand};

fn main() -> ExitCode {
    let args = with_default_subcommand(std::env::args().collect());
    match Cli::try_parse_from(args) {
        Ok(cli) => stampede::run::execute(cli),
        Err(e) => {
            let _ = e.print();
            // --help and --version are not errors.
            if e.use_stderr() {
                ExitCode::from(stampede::report::exit::USAGE)
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}
