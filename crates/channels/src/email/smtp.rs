//! An SMTP transport for configured settings: the email channel sends
//! through it, and so do email notifications.

use std::time::Duration;

use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, Tokio1Executor};

use super::config::{SmtpSettings, SmtpTls};

/// An SMTP transport for `s`: TLS as configured, with its extra CA roots and credentials.
pub fn smtp_transport(s: &SmtpSettings) -> Result<AsyncSmtpTransport<Tokio1Executor>, lettre::transport::smtp::Error> {
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    let tls = || -> Result<TlsParameters, lettre::transport::smtp::Error> {
        let mut b = TlsParameters::builder(s.host.clone());
        for root in &s.extra_roots {
            b = b.add_root_certificate(Certificate::from_der(root.to_vec())?);
        }
        b.build_rustls()
    };
    let builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host);
    let mut transport = match s.tls {
        SmtpTls::None => builder,
        SmtpTls::Starttls => builder.tls(Tls::Required(tls()?)),
        SmtpTls::Tls => builder.tls(Tls::Wrapper(tls()?)),
    }
    .port(s.port)
    .timeout(Some(Duration::from_secs(30)));
    if let (Some(user), Some(pass)) = (&s.username, &s.password) {
        transport = transport.credentials(Credentials::new(user.clone(), pass.expose().to_string()));
    }
    Ok(transport.build())
}
