//! `luukku serve web` signs a person in with an OpenID Connect provider: the authorization
//! code flow with PKCE, in a real browser. The provider here is a small one of the test's own
//! (an external system to luukku); it signs with the development issuer's key, whose tokens
//! `luukku dev`'s services accept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use luukku_auth::{DEV_AUDIENCE, DEV_ISSUER, DevIssuer, Grant};
use sha2::{Digest as _, Sha256};

use super::web::{browser, chromedriver, look, submit};
use super::*;

const CLIENT_ID: &str = "luukku-web";
const CLIENT_SECRET: &str = "web-client-secret";

/// A code the provider gave, waiting to be exchanged.
struct Issued {
    challenge: String,
    nonce: String,
    redirect_uri: String,
}

#[derive(Default)]
struct Seen {
    /// Exchanges whose verifier matched the challenge and whose client authenticated.
    exchanged: usize,
    refused: Vec<String>,
}

struct Provider {
    base: String,
    issuer: DevIssuer,
    codes: Mutex<HashMap<String, Issued>>,
    seen: Mutex<Seen>,
    /// Answers with an ID token for another sign-in (a replayed one), to be refused.
    wrong_nonce: std::sync::atomic::AtomicBool,
}

type Shared = State<Arc<Provider>>;

fn json(value: &serde_json::Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], value.to_string()).into_response()
}

async fn discovery(State(provider): Shared) -> Response {
    let base = &provider.base;
    json(&serde_json::json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
        "code_challenge_methods_supported": ["S256"],
        "response_types_supported": ["code"],
    }))
}

async fn jwks(State(provider): Shared) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], provider.issuer.jwks().to_owned()).into_response()
}

/// Signs the person in at once and sends the browser back with a code.
async fn authorize(State(provider): Shared, Query(asked): Query<HashMap<String, String>>) -> Response {
    let get = |name: &str| asked.get(name).cloned().unwrap_or_default();
    if get("response_type") != "code"
        || get("client_id") != CLIENT_ID
        || get("code_challenge_method") != "S256"
    {
        return (StatusCode::BAD_REQUEST, "not a code flow with PKCE").into_response();
    }
    let code = format!("code-{}", luukku_domain::RequestId::generate());
    provider.codes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(
        code.clone(),
        Issued { challenge: get("code_challenge"), nonce: get("nonce"), redirect_uri: get("redirect_uri") },
    );
    let back = format!(
        "{}?code={code}&state={}",
        get("redirect_uri"),
        form_urlencoded::byte_serialize(get("state").as_bytes()).collect::<String>()
    );
    (StatusCode::SEE_OTHER, [(header::LOCATION, back)]).into_response()
}

async fn token(State(provider): Shared, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let get = |name: &str| form.get(name).cloned().unwrap_or_default();
    let refuse = |why: &str| {
        provider.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).refused.push(why.to_owned());
        (
            StatusCode::BAD_REQUEST,
            json(&serde_json::json!({ "error": "invalid_grant", "error_description": why })),
        )
            .into_response()
    };
    let basic = format!("Basic {}", STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}")));
    if headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok()) != Some(basic.as_str()) {
        return refuse("client authentication");
    }
    // A code is used once.
    let Some(issued) =
        provider.codes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&get("code"))
    else {
        return refuse("unknown or used code");
    };
    if URL_SAFE_NO_PAD.encode(Sha256::digest(get("code_verifier").as_bytes())) != issued.challenge {
        return refuse("PKCE verifier does not match");
    }
    if get("redirect_uri") != issued.redirect_uri || get("grant_type") != "authorization_code" {
        return refuse("redirect_uri or grant_type");
    }
    let now = jiff::Timestamp::now().as_second();
    let id_token = provider.issuer.sign(&serde_json::json!({
        "iss": provider.base, "aud": CLIENT_ID, "sub": "dev.contact",
        "nonce": if provider.wrong_nonce.load(std::sync::atomic::Ordering::SeqCst) { "another" } else { issued.nonce.as_str() },
        "iat": now, "exp": now + 300,
    }));
    let access_token = provider.issuer.mint(&Grant {
        person: "dev.contact".to_owned(),
        role: luukku_domain::Role::ContactPerson,
        organisation: "dev".to_owned(),
        sector: Some(luukku_domain::Sector::FamilySocialServices),
        system: "luukku-web".to_owned(),
        member: None,
        ttl: Duration::from_secs(3600),
    });
    let (Ok(id_token), Ok(access_token)) = (id_token, access_token) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "signing").into_response();
    };
    provider.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).exchanged += 1;
    json(&serde_json::json!({
        "access_token": access_token, "id_token": id_token, "token_type": "Bearer", "expires_in": 3600,
    }))
}

async fn start_provider(data_dir: &std::path::Path) -> anyhow::Result<Arc<Provider>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let provider = Arc::new(Provider {
        base,
        issuer: DevIssuer::open(data_dir)?,
        codes: Mutex::default(),
        seen: Mutex::default(),
        wrong_nonce: std::sync::atomic::AtomicBool::new(false),
    });
    let app = axum::Router::new()
        .route("/.well-known/openid-configuration", axum::routing::get(discovery))
        .route("/jwks", axum::routing::get(jwks))
        .route("/authorize", axum::routing::get(authorize))
        .route("/token", axum::routing::post(token))
        .with_state(Arc::clone(&provider));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(provider)
}

/// Starts `luukku serve web` against the provider and `luukku dev`'s services.
async fn serve_web(
    folder: &std::path::Path,
    ports: &Ports,
    provider: &Provider,
    port: u16,
) -> anyhow::Result<tokio::process::Child> {
    let secret = folder.join("client-secret");
    std::fs::write(&secret, format!("{CLIENT_SECRET}\n"))?;
    let url = |port: u16| format!("http://127.0.0.1:{port}");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_luukku"))
        .args(["serve", "web", "--insecure-plaintext"])
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--metrics-listen",
            &format!("127.0.0.1:{}", free_port()?),
        ])
        .args(["--public-url", &url(port)])
        .args(["--oidc-issuer", &provider.base, "--oidc-client-id", CLIENT_ID])
        .arg("--oidc-client-secret-file")
        .arg(&secret)
        .args(["--jwks-url", &format!("{}/jwks", provider.base)])
        .args(["--token-issuer", DEV_ISSUER, "--token-audience", DEV_AUDIENCE])
        .args(["--families-url", &url(ports.families), "--coordination-url", &url(ports.coordination)])
        .args(["--contacts-url", &url(ports.others[0]), "--referrals-url", &url(ports.others[1])])
        .args(["--meetings-url", &url(ports.others[2])])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await? {
            if line.contains("luukku web listening") {
                return anyhow::Ok(());
            }
        }
        anyhow::bail!("luukku serve web ended before it listened")
    })
    .await
    .map_err(|_| anyhow::anyhow!("luukku serve web did not listen in 30 s"))??;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(child)
}

#[tokio::test]
async fn a_contact_person_signs_in_with_the_organisations_provider_by_the_code_flow_with_pkce()
-> anyhow::Result<()> {
    let folder = tempfile::tempdir()?;
    let ports = Ports::pick(folder.path())?;
    let dev = start_dev(folder.path(), &ports).await?;
    let provider = start_provider(folder.path()).await?;
    let port = free_port()?;
    let _web = serve_web(folder.path(), &ports, &provider, port).await?;
    let driver = chromedriver().await?;
    let client = browser(&driver).await?;
    let base = format!("http://127.0.0.1:{port}");

    // Production offers the organisation's sign-in only: no development identities.
    client.goto(&format!("{base}/caseload")).await?;
    let page = look(&client, "sign-in-provider", "Kirjaudu organisaation tunnuksilla").await?;
    assert!(!page.contains("Kehitysympäristö"), "{page}");
    // Off to the provider and back, and on to the caseload, which the services answered with
    // the provider's token.
    submit(&client, "form[action='/sign-in/oidc']").await?;
    for _ in 0..100 {
        if client.current_url().await?.path() == "/caseload" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let caseload = look(&client, "caseload-provider", "Perheeni").await?;
    assert!(
        caseload.contains("dev.contact") && caseload.contains("Sinulla ei ole vielä perheitä."),
        "{caseload}"
    );
    {
        let seen = provider.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        assert_eq!(
            (seen.exchanged, seen.refused.len()),
            (1, 0),
            "one code, exchanged with its verifier: {:?}",
            seen.refused
        );
    }
    // The session is the provider's person: a form writes with their token.
    client.goto(&format!("{base}/families/new")).await?;
    super::web::fill(&client, "municipality", "091").await?;
    for (id, value) in [
        ("guardian_given", "Maria"),
        ("guardian_family", "Virtanen"),
        ("child_given", "Eero"),
        ("child_family", "Virtanen"),
        ("child_born", "1.5.2015"),
    ] {
        super::web::fill(&client, id, value).await?;
    }
    submit(&client, "form[action='/families']").await?;
    look(&client, "registered-provider", "Perhe rekisteröity.").await?;

    // An ID token made for another sign-in is refused.
    submit(&client, "form[action='/sign-out']").await?;
    provider.wrong_nonce.store(true, std::sync::atomic::Ordering::SeqCst);
    submit(&client, "form[action='/sign-in/oidc']").await?;
    look(&client, "id-token-refused", "Kirjautuminen ei onnistunut.").await?;
    client.goto(&format!("{base}/caseload")).await?;
    look(&client, "still-signed-out", "Kirjaudu organisaation tunnuksilla").await?;

    // A return from the provider that this browser did not start is refused.
    client.goto(&format!("{base}/oidc/callback?code=stolen&state=forged")).await?;
    look(&client, "callback-forged", "Kirjautuminen ei onnistunut.").await?;
    client.close().await?;
    stop(dev).await
}
