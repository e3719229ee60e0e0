//! The calls to Stripe that requests recorded: refunds, surplus payments going back, pledge
//! authorisations captured or released. Every call carries a Stripe idempotency key derived from
//! our id, so a row performed twice (a worker killed after the call) changes nothing twice.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::error::AppResult;
use crate::payments::gateway::StripeGateway;
use crate::payments::stripe::not_configured;
use crate::payments::{authorization, stripe};
use crate::settlement::payouts;
use crate::state::AppState;
use crate::worker::job::{Claimed, Job, Registered};
use crate::worker::payloads::{CaptureDue, RefundDue, SurplusDue, TransferDue, VoidDue};

/// One kind of call to Stripe made from the outbox.
pub trait StripeCall: Send + Sync + 'static {
    type Payload: Registered;
    fn call(
        state: &AppState,
        gateway: &StripeGateway,
        payload: Self::Payload,
    ) -> impl Future<Output = AppResult<()>> + Send;
}

/// The job of a [`StripeCall`]: runs only where Stripe is configured (elsewhere its rows wait),
/// woken at once by a request of this process that queued one, 30 attempts.
pub struct Stripe<C>(PhantomData<C>);

impl<C: StripeCall> Job for Stripe<C> {
    type Payload = C::Payload;
    const MAX_ATTEMPTS: Option<i32> = Some(30);

    fn enabled(state: &AppState) -> bool {
        state.stripe.is_some()
    }

    fn woken_by(state: &AppState) -> Option<Arc<tokio::sync::Notify>> {
        Some(state.stripe_nudge.clone())
    }

    async fn run(state: &AppState, row: Claimed<C::Payload>) -> AppResult<()> {
        let gateway = state.stripe.clone().ok_or_else(not_configured)?;
        C::call(state, &gateway, row.payload).await
    }
}

/// `stripe.refund`: makes a refund we recorded, then completes it.
pub struct PushRefund;

impl StripeCall for PushRefund {
    type Payload = RefundDue;
    async fn call(state: &AppState, gateway: &StripeGateway, due: RefundDue) -> AppResult<()> {
        stripe::push_refund(state, gateway, due.refund_id).await.map(|_| ())
    }
}

/// `stripe.surplus`: gives back in full money that arrived for an order no longer payable.
pub struct ReturnSurplus;

impl StripeCall for ReturnSurplus {
    type Payload = SurplusDue;
    async fn call(state: &AppState, gateway: &StripeGateway, due: SurplusDue) -> AppResult<()> {
        stripe::push_surplus(state, gateway, due.payment_id).await
    }
}

/// `stripe.capture`: captures a pledge's authorisation for what its order costs, settles the order.
pub struct CaptureAuthorization;

impl StripeCall for CaptureAuthorization {
    type Payload = CaptureDue;
    async fn call(state: &AppState, gateway: &StripeGateway, due: CaptureDue) -> AppResult<()> {
        authorization::push_capture(state, gateway, due.authorization_id).await
    }
}

/// `stripe.void`: releases a pledge's authorisation.
pub struct VoidAuthorization;

impl StripeCall for VoidAuthorization {
    type Payload = VoidDue;
    async fn call(state: &AppState, gateway: &StripeGateway, due: VoidDue) -> AppResult<()> {
        authorization::push_void(state, gateway, due.authorization_id).await
    }
}

/// `stripe.transfer`: pays a settlement to its producer's connected account.
pub struct PushTransfer;

impl StripeCall for PushTransfer {
    type Payload = TransferDue;
    async fn call(state: &AppState, gateway: &StripeGateway, due: TransferDue) -> AppResult<()> {
        payouts::push_transfer(state, gateway, due.payout_id).await
    }
}
