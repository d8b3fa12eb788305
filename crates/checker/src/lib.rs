//! Tells a developer whether their webhook endpoint is ready for Meta, before Meta does: a
//! conformance run of the handshake, signatures over exact bytes, batches, a body near the size
//! limit, answer times, duplicates, forward compatibility and TLS, against one URL.
//!
//! Every body is built from the receiver library's samples in Meta's current shapes, written
//! with Meta's JSON escaping and signed exactly as the delivery engine signs. The run connects
//! to the given URL (and the echo URL, when given) and nowhere else.

mod checks;
mod payloads;
mod probe;
mod report;
mod target;

pub use report::{Check, Outcome, Report};
pub use target::{Options, SetupError, Target};

/// What every check gets: where to send, what to send, and how.
pub(crate) struct Run<'a> {
    pub probe: probe::Probe,
    pub payloads: payloads::Payloads,
    pub target: &'a Target,
    pub options: &'a Options,
}

/// Runs every check against `target`, one after another, and reports each. Only bad settings
/// are an error: an endpoint that cannot be reached is itself what the report has to say.
pub async fn run(target: &Target, options: &Options) -> Result<Report, SetupError> {
    let run = Run {
        probe: probe::Probe::new(target, options)?,
        payloads: payloads::Payloads::new(&options.fields)?,
        target,
        options,
    };
    let mut all = Vec::new();
    all.extend(checks::handshake::run(&run).await);
    all.extend(checks::signatures::run(&run).await);
    all.push(checks::exact_bytes::run(&run).await);
    all.push(checks::batch::run(&run).await);
    all.push(checks::size::run(&run).await);
    all.extend(checks::speed::run(&run).await);
    all.push(checks::duplicates::run(&run).await);
    all.extend(checks::compat::run(&run).await);
    all.extend(checks::tls::run(&run).await);
    Ok(Report::new(&target.url, all))
}
