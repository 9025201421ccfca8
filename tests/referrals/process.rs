//! The deadline and consent process: escalations exactly once, across restarts.

use std::time::Duration;

use luukku_domain::referrals::{Allowance, DeadlinePolicy, ReferralCommand};
use luukku_proto::families::v1 as families;
use luukku_proto::referrals::v1 as pb;

use crate::support::*;

/// A referral resting on a consent: a family consenting to mental health services, and a
/// referral to a youth clinic, received. The process's own round comes once an hour (first at
/// its start), so that anything sooner is the process reacting.
struct OnConsent {
    harness: Harness,
    family: Family,
    consent_id: String,
    clinic: String,
    referral_id: String,
}

async fn referral_on_consent() -> anyhow::Result<OnConsent> {
    let config = luukku_referrals::Config { tick: Duration::from_secs(3600), ..Default::default() };
    let mut harness = Harness::start_with(config).await?;
    let (family, consent_id) = harness.family(&["mental_health"]).await?;
    let clinic = harness.service("mental_health", "Youth clinic").await?;
    let referral_id = harness.refer(&family, &clinic).await?.referral_id;
    harness.step(&referral_id, pb::update_referral_request::Step::Receive(pb::Empty {})).await?;
    Ok(OnConsent { harness, family, consent_id, clinic, referral_id })
}

#[tokio::test]
async fn a_revoked_consent_flags_its_open_referrals_once() -> anyhow::Result<()> {
    // The revocation itself must wake the process.
    let OnConsent { mut harness, family, consent_id, referral_id, .. } = referral_on_consent().await?;
    let revoke = families::RevokeConsentRequest {
        request_id: request_id(),
        family_id: family.id.clone(),
        consent_id,
        revoked_by: family.guardian.clone(),
        ..Default::default()
    };
    harness.families.revoke_consent(harness.call(revoke)).await?;
    let flagged = eventually(10, || {
        let mut client = harness.referrals.clone();
        let request = harness.call(pb::GetReferralRequest { referral_id: referral_id.clone() });
        async move {
            Ok(client.get_referral(request).await?.into_inner().referral.is_some_and(|r| r.consent_lapsed))
        }
    })
    .await?;
    assert!(flagged, "the referral was not flagged");
    let referral = harness.get(&referral_id).await?.referral.expect("referral");
    assert_eq!(referral.state, "received", "nothing already recorded is lost");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(harness.events_of_type("ReferralConsentLapsed").await?, 1);
    let inbox = pb::ListReferralsRequest { sector: "mental_health".into(), ..Default::default() };
    let listed =
        harness.referrals.list_referrals(harness.as_sector("mental_health", inbox)).await?.into_inner();
    assert!(listed.referrals[0].consent_lapsed, "the receiving sector sees it");
    Ok(())
}

#[tokio::test]
async fn a_consent_past_its_last_day_lapses_its_open_referrals_only() -> anyhow::Result<()> {
    // The consent is valid until 2099-12-31.
    let OnConsent { mut harness, family, consent_id, clinic, referral_id: open } =
        referral_on_consent().await?;
    let cancelled = harness.refer(&family, &clinic).await?;
    let note = pb::WithNote { note: "not needed".into() };
    harness.step(&cancelled.referral_id, pb::update_referral_request::Step::Cancel(note)).await?;
    // Another process's model of the same streams, asked about days to come.
    let process = luukku_referrals::Referrals::new(
        &luukku_app::Folder::temporary(),
        harness.store.clone(),
        harness.keys.clone(),
        DeadlinePolicy::default(),
    );
    let lapsing_on = |date: jiff::civil::Date| {
        let process = &process;
        async move {
            let now = date.to_zoned(jiff::tz::TimeZone::UTC)?.timestamp().as_millisecond();
            let context =
                luukku_domain::Context { now: luukku_domain::Timestamp::from_millis(now), today: date };
            // Its model is written from the streams' start first.
            let mut tries = 0;
            let due = loop {
                match process.due_escalations_at(context).await {
                    Ok(due) => break due,
                    Err(error) if tries == 50 => anyhow::bail!("no escalations: {error}"),
                    Err(_) => tries += 1,
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            anyhow::Ok(
                due.into_iter()
                    .filter_map(|escalation| match escalation.command {
                        ReferralCommand::FlagConsentLapsed { consent_id } => {
                            Some((escalation.referral_id.to_string(), consent_id.to_string()))
                        }
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            )
        }
    };
    assert_eq!(lapsing_on(jiff::civil::date(2099, 12, 31)).await?, [], "its last day still counts");
    assert_eq!(
        lapsing_on(jiff::civil::date(2100, 1, 1)).await?,
        [(open, consent_id)],
        "the open referral lapses the day after, the cancelled one does not"
    );
    Ok(())
}

#[tokio::test]
async fn a_deadline_passed_while_stopped_escalates_exactly_once() -> anyhow::Result<()> {
    let policy =
        DeadlinePolicy { urgent: Allowance::Fixed(Duration::from_secs(2)), normal: Allowance::Days(7) };
    let config = luukku_referrals::Config { policy, tick: Duration::from_millis(100) };
    let mut harness = Harness::start_with(config).await?;
    let (family, _) = harness.family(&["mental_health"]).await?;
    let contact_person = harness.contact_person(&family.id).await?;
    let clinic = harness.service("mental_health", "Youth clinic").await?;
    let mut urgent = referral(&family, &clinic);
    urgent.urgency = "urgent".into();
    let created = harness.referrals.create_referral(harness.call(urgent)).await?.into_inner();

    // Stop the process before the deadline, and let the deadline pass.
    drop(harness.process.take());
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(harness.events_of_type("ReferralOverdue").await?, 0, "nothing runs while stopped");

    // Start it again, twice over, as after a restart with two replicas.
    let (_, first) = luukku_referrals::start(
        harness.store.clone(),
        harness.keys.clone(),
        config,
        luukku_app::Guard::start(harness.store.clone()),
    )
    .await;
    let (_, second) = luukku_referrals::start(
        harness.store.clone(),
        harness.keys.clone(),
        config,
        luukku_app::Guard::start(harness.store.clone()),
    )
    .await;
    let store = harness.store.clone();
    let escalated = eventually(10, || {
        let harness_store = store.clone();
        async move {
            let messages: Vec<_> = futures::TryStreamExt::try_collect(
                harness_store
                    .read(luukku_eventstore::Stream::Referrals, luukku_eventstore::ReadOptions::default())
                    .await?,
            )
            .await?;
            Ok(messages.iter().flat_map(|m| &m.envelope.events).any(|e| e.event_type == "ReferralOverdue"))
        }
    })
    .await?;
    assert!(escalated, "no overdue after the restart");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    drop((first, second));
    assert_eq!(harness.events_of_type("ReferralOverdue").await?, 1, "exactly one overdue");

    let request = pb::ListReferralsRequest {
        contact_person_id: contact_person,
        overdue_only: true,
        ..Default::default()
    };
    let overdue = harness.referrals.list_referrals(harness.call(request)).await?.into_inner();
    assert_eq!(
        overdue.referrals.iter().map(|r| r.referral_id.clone()).collect::<Vec<_>>(),
        [created.referral_id]
    );
    Ok(())
}
