//! Table definitions shared by both backends (only column types both support).

diesel::table! {
    app_meta (key) {
        key -> Text,
        value -> Text,
    }
}

diesel::table! {
    regions (code) {
        code -> Text,
        name -> Text,
        level -> Text,
        parent_code -> Nullable<Text>,
        /// Codes from the root down to this region, `/`-joined with a trailing `/`, for containment by prefix.
        path -> Text,
        assisted_mark -> Bool,
        national -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    organizations (id) {
        id -> Text,
        name -> Text,
        kind -> Text,
        region_code -> Text,
        parent_id -> Nullable<Text>,
        /// Ids from the top organisation down to this one, `/`-joined with a trailing `/`.
        path -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        org_id -> Text,
        email -> Text,
        name -> Text,
        role -> Text,
        password_hash -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    sessions (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    login_failures (id) {
        id -> Text,
        email -> Text,
        failed_at -> Timestamp,
    }
}

diesel::table! {
    products (id) {
        id -> Text,
        producer_id -> Text,
        name -> Text,
        category -> Text,
        description -> Text,
        origin_region_code -> Text,
        origin_path -> Text,
        unit -> Text,
        spec -> Text,
        net_weight_g -> Nullable<BigInt>,
        price_fen -> BigInt,
        price_per_500g_fen -> Nullable<BigInt>,
        /// JSON: `[{"min_qty": n, "price_fen": n}]`, min_qty ascending.
        tiers -> Text,
        min_order_qty -> BigInt,
        stock -> BigInt,
        storage -> Text,
        shelf_life_days -> Nullable<BigInt>,
        /// JSON array of URLs.
        images -> Text,
        status -> Text,
        cert_status -> Text,
        certificate_no -> Nullable<Text>,
        cert_valid_until -> Nullable<Date>,
        rating_sum -> BigInt,
        rating_count -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        /// When orders last took or returned stock (search refreshes such products in batches).
        stock_changed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    certification_requests (id) {
        id -> Text,
        product_id -> Text,
        status -> Text,
        benefit_mechanism -> Text,
        /// JSON: `[{"kind", "name", "url"}]`.
        documents -> Text,
        submitted_by -> Text,
        submitted_at -> Timestamp,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        decision_reason -> Nullable<Text>,
        certificate_no -> Nullable<Text>,
        valid_until -> Nullable<Date>,
    }
}

diesel::table! {
    certification_events (id) {
        id -> Text,
        product_id -> Text,
        request_id -> Nullable<Text>,
        action -> Text,
        actor_user_id -> Nullable<Text>,
        actor_org_id -> Nullable<Text>,
        reason -> Nullable<Text>,
        /// JSON with what the decision concerned (certificate number, validity, price check).
        details -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    batches (id) {
        id -> Text,
        product_id -> Text,
        batch_no -> Text,
        produced_on -> Date,
        quantity -> BigInt,
        inspection_report_url -> Nullable<Text>,
        trace_code -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    outbox (id) {
        id -> Text,
        topic -> Text,
        payload -> Text,
        created_at -> Timestamp,
        available_at -> Timestamp,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        locked_until -> Nullable<Timestamp>,
        done_at -> Nullable<Timestamp>,
        /// Failed too often: no longer retried until an operator retries it.
        dead_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    mail_opt_outs (user_id, kind) {
        user_id -> Text,
        kind -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    scheduled_runs (job, period) {
        job -> Text,
        period -> Text,
        ran_at -> Timestamp,
    }
}

diesel::table! {
    orders (id) {
        id -> Text,
        buyer_org_id -> Text,
        buyer_org_path -> Text,
        buyer_region_code -> Text,
        buyer_user_id -> Text,
        group_buy_id -> Nullable<Text>,
        status -> Text,
        total_fen -> BigInt,
        paid_fen -> BigInt,
        refunded_fen -> BigInt,
        delivery_address -> Text,
        delivery_contact -> Text,
        delivery_phone -> Text,
        note -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        paid_at -> Nullable<Timestamp>,
        /// When the order became `completed` or `cancelled`.
        closed_at -> Nullable<Timestamp>,
        /// The group-purchase pledge this order fulfils (unique).
        pledge_id -> Nullable<Text>,
        /// `catalogue`, `group_buy` or `live`.
        channel -> Text,
        /// The live session whose price the order was placed at (channel `live`).
        live_session_id -> Nullable<Text>,
    }
}

diesel::table! {
    live_sessions (id) {
        id -> Text,
        organizer_org_id -> Text,
        created_by -> Text,
        title -> Text,
        host -> Text,
        starts_at -> Timestamp,
        ends_at -> Timestamp,
        /// `scheduled`, `live`, `ended` or `cancelled`.
        status -> Text,
        ended_at -> Nullable<Timestamp>,
        final_units -> Nullable<BigInt>,
        final_amount_fen -> Nullable<BigInt>,
        final_orders -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    live_items (session_id, product_id) {
        session_id -> Text,
        product_id -> Text,
        position -> Integer,
        live_price_fen -> BigInt,
        stock_cap -> Nullable<BigInt>,
        /// Units placed at the live price (never above `stock_cap`).
        sold_qty -> BigInt,
    }
}

diesel::table! {
    group_buys (id) {
        id -> Text,
        title -> Text,
        description -> Text,
        organizer_org_id -> Text,
        organizer_user_id -> Text,
        product_id -> Text,
        producer_id -> Text,
        tiers -> Text,
        min_total_qty -> BigInt,
        max_total_qty -> BigInt,
        min_pledge_qty -> BigInt,
        opens_at -> Timestamp,
        closes_at -> Timestamp,
        eligible_region_code -> Text,
        eligible_region_path -> Text,
        status -> Text,
        total_qty -> BigInt,
        pledge_count -> Integer,
        final_unit_price_fen -> Nullable<BigInt>,
        outcome_reason -> Nullable<Text>,
        closed_at -> Nullable<Timestamp>,
        closed_by_user_id -> Nullable<Text>,
        reminded_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        pledges_settled_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    pledge_authorizations (id) {
        id -> Text,
        pledge_id -> Text,
        group_buy_id -> Text,
        payment_intent_id -> Text,
        amount_fen -> BigInt,
        status -> Text,
        order_id -> Nullable<Text>,
        payment_id -> Nullable<Text>,
        capture_fen -> Nullable<BigInt>,
        release_refund_id -> Nullable<Text>,
        outcome -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    group_buy_pledges (id) {
        id -> Text,
        group_buy_id -> Text,
        org_id -> Text,
        org_path -> Text,
        user_id -> Text,
        quantity -> BigInt,
        status -> Text,
        delivery_address -> Text,
        delivery_contact -> Text,
        delivery_phone -> Text,
        note -> Nullable<Text>,
        replaces_id -> Nullable<Text>,
        order_id -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    sub_orders (id) {
        id -> Text,
        order_id -> Text,
        producer_id -> Text,
        producer_path -> Text,
        status -> Text,
        total_fen -> BigInt,
        refunded_fen -> BigInt,
        carrier -> Nullable<Text>,
        tracking_no -> Nullable<Text>,
        invoice_no -> Nullable<Text>,
        acceptance_note -> Nullable<Text>,
        shipped_at -> Nullable<Timestamp>,
        accepted_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    order_lines (id) {
        id -> Text,
        order_id -> Text,
        sub_order_id -> Text,
        position -> Integer,
        product_id -> Text,
        producer_id -> Text,
        product_name -> Text,
        spec -> Text,
        unit -> Text,
        category -> Text,
        origin_region_code -> Text,
        certificate_no -> Text,
        quantity -> BigInt,
        unit_price_fen -> BigInt,
        subtotal_fen -> BigInt,
    }
}

diesel::table! {
    order_events (id) {
        id -> Text,
        order_id -> Text,
        sub_order_id -> Nullable<Text>,
        action -> Text,
        from_status -> Nullable<Text>,
        to_status -> Nullable<Text>,
        actor_user_id -> Nullable<Text>,
        actor_org_id -> Nullable<Text>,
        /// JSON with what the event concerned (amounts, carrier, reason …).
        details -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    payments (id) {
        id -> Text,
        order_id -> Text,
        method -> Text,
        status -> Text,
        amount_fen -> BigInt,
        currency -> Text,
        reference -> Nullable<Text>,
        external_id -> Nullable<Text>,
        paid_at -> Nullable<Timestamp>,
        recorded_by -> Nullable<Text>,
        failure_reason -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    refunds (id) {
        id -> Text,
        order_id -> Text,
        sub_order_id -> Text,
        payment_id -> Text,
        amount_fen -> BigInt,
        reason -> Text,
        method -> Text,
        status -> Text,
        external_id -> Nullable<Text>,
        requested_by -> Nullable<Text>,
        created_at -> Timestamp,
        completed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// A buying unit's request for a refund, granted (through the refund path) or declined by the producer.
    refund_requests (id) {
        id -> Text,
        sub_order_id -> Text,
        order_id -> Text,
        buyer_org_id -> Text,
        producer_id -> Text,
        amount_fen -> BigInt,
        reason -> Text,
        status -> Text,
        requested_by -> Text,
        requested_at -> Timestamp,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        decline_reason -> Nullable<Text>,
        refund_id -> Nullable<Text>,
    }
}

diesel::table! {
    /// Quality labels of a product (圳品, 绿色食品, 有机产品, 农产品地理标志).
    product_labels (id) {
        id -> Text,
        product_id -> Text,
        kind -> Text,
        issuer -> Text,
        certificate_no -> Text,
        valid_from -> Date,
        valid_until -> Date,
        document_url -> Nullable<Text>,
        added_by -> Text,
        created_at -> Timestamp,
        removed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Stripe webhook events, each handled once (the id is Stripe's event id).
    stripe_events (id) {
        id -> Text,
        event_type -> Text,
        object_id -> Nullable<Text>,
        stripe_created_at -> Timestamp,
        received_at -> Timestamp,
        outcome -> Text,
        detail -> Nullable<Text>,
    }
}

diesel::table! {
    ratings (id) {
        id -> Text,
        sub_order_id -> Text,
        buyer_org_id -> Text,
        user_id -> Text,
        stars -> Integer,
        comment -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    idempotency_keys (org_id, key) {
        org_id -> Text,
        key -> Text,
        fingerprint -> Text,
        status_code -> Integer,
        response -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    pairings (id) {
        id -> Text,
        donor_region_code -> Nullable<Text>,
        donor_org_id -> Nullable<Text>,
        donor_path -> Text,
        recipient_region_code -> Text,
        recipient_path -> Text,
        valid_from -> Date,
        valid_to -> Nullable<Date>,
        note -> Nullable<Text>,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    targets (id) {
        id -> Text,
        year -> Integer,
        scope_kind -> Text,
        scope_id -> Text,
        amount_fen -> BigInt,
        source -> Text,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    filings (id) {
        id -> Text,
        org_id -> Text,
        year -> Integer,
        canteen_budget_fen -> BigInt,
        share_bp -> Integer,
        no_canteen -> Bool,
        exemption_reason -> Nullable<Text>,
        status -> Text,
        submitted_by -> Text,
        submitted_at -> Timestamp,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        return_reason -> Nullable<Text>,
    }
}

diesel::table! {
    accounting_events (id) {
        id -> Text,
        subject_kind -> Text,
        subject_id -> Text,
        action -> Text,
        actor_user_id -> Nullable<Text>,
        actor_org_id -> Nullable<Text>,
        details -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    periods (year) {
        year -> Integer,
        closed_at -> Timestamp,
        closed_by -> Nullable<Text>,
    }
}

diesel::table! {
    ledger_entries (id) {
        id -> Text,
        cause -> Text,
        kind -> Text,
        order_id -> Text,
        sub_order_id -> Text,
        refund_id -> Nullable<Text>,
        reverses_id -> Nullable<Text>,
        amount_fen -> BigInt,
        counted_at -> Timestamp,
        recorded_at -> Timestamp,
        year -> Integer,
        month -> Integer,
        adjusts_year -> Nullable<Integer>,
        buyer_org_id -> Text,
        buyer_region_code -> Text,
        producer_id -> Text,
        origin_region_code -> Text,
        pairing_id -> Nullable<Text>,
        certificate_no -> Text,
    }
}

diesel::table! {
    ledger_lines (entry_id, position) {
        entry_id -> Text,
        position -> Integer,
        kind -> Text,
        amount_fen -> BigInt,
        year -> Integer,
        month -> Integer,
        recorded_at -> Timestamp,
        product_id -> Text,
        category -> Text,
        certificate_no -> Text,
        origin_code -> Text,
        origin_path -> Text,
        origin_province -> Text,
        origin_prefecture -> Text,
        origin_county -> Text,
        buyer_org_id -> Text,
        buyer_org_path -> Text,
        buyer_region_path -> Text,
        buyer_province -> Text,
        buyer_prefecture -> Text,
        buyer_county -> Text,
        producer_id -> Text,
        producer_path -> Text,
        /// The pairing id, or '' for none (so unique keys and equality work alike on both backends).
        pairing_key -> Text,
        /// The order's channel: `catalogue`, `group_buy` or `live`.
        channel -> Text,
    }
}

diesel::table! {
    ledger_sums_month (year, month, origin_prefecture, buyer_prefecture, category, pairing_key) {
        year -> Integer,
        month -> Integer,
        origin_prefecture -> Text,
        buyer_prefecture -> Text,
        category -> Text,
        pairing_key -> Text,
        origin_province -> Text,
        buyer_province -> Text,
        amount_fen -> BigInt,
    }
}

diesel::table! {
    ledger_sums_month_province (year, month, origin_province, buyer_province, category, pairing_key) {
        year -> Integer,
        month -> Integer,
        origin_province -> Text,
        buyer_province -> Text,
        category -> Text,
        pairing_key -> Text,
        amount_fen -> BigInt,
    }
}

diesel::table! {
    ledger_sums_pref (year, origin_prefecture, buyer_prefecture, pairing_key) {
        year -> Integer,
        origin_prefecture -> Text,
        buyer_prefecture -> Text,
        pairing_key -> Text,
        origin_province -> Text,
        buyer_province -> Text,
        amount_fen -> BigInt,
    }
}

diesel::table! {
    ledger_sums_county (year, origin_county, buyer_county, pairing_key) {
        year -> Integer,
        origin_county -> Text,
        buyer_county -> Text,
        pairing_key -> Text,
        origin_province -> Text,
        origin_prefecture -> Text,
        buyer_province -> Text,
        buyer_prefecture -> Text,
        amount_fen -> BigInt,
    }
}

diesel::table! {
    ledger_sums_buyer (year, origin_prefecture, buyer_org_id, pairing_key) {
        year -> Integer,
        origin_prefecture -> Text,
        buyer_org_id -> Text,
        pairing_key -> Text,
        origin_province -> Text,
        buyer_province -> Text,
        buyer_prefecture -> Text,
        amount_fen -> BigInt,
    }
}

diesel::table! {
    ledger_sums_buyer_origin (year, origin_prefecture, buyer_org_id) {
        year -> Integer,
        origin_prefecture -> Text,
        buyer_org_id -> Text,
        origin_province -> Text,
        amount_fen -> BigInt,
    }
}

diesel::table! {
    ledger_sums_buyer_origin_province (year, origin_province, buyer_org_id) {
        year -> Integer,
        origin_province -> Text,
        buyer_org_id -> Text,
        amount_fen -> BigInt,
    }
}

diesel::table! {
    ledger_sums_buyer_donor (year, buyer_prefecture, buyer_org_id) {
        year -> Integer,
        buyer_prefecture -> Text,
        buyer_org_id -> Text,
        buyer_province -> Text,
        amount_fen -> BigInt,
    }
}

diesel::table! {
    ledger_sums_buyer_origin_part (year, part, origin_prefecture, buyer_org_id) {
        year -> Integer,
        part -> Text,
        origin_prefecture -> Text,
        buyer_org_id -> Text,
        origin_province -> Text,
        amount_fen -> BigInt,
    }
}

diesel::table! {
    ledger_sums_buyer_origin_province_part (year, part, origin_province, buyer_org_id) {
        year -> Integer,
        part -> Text,
        origin_province -> Text,
        buyer_org_id -> Text,
        amount_fen -> BigInt,
    }
}

diesel::table! {
    ledger_sums_buyer_donor_part (year, part, buyer_prefecture, buyer_org_id) {
        year -> Integer,
        part -> Text,
        buyer_prefecture -> Text,
        buyer_org_id -> Text,
        buyer_province -> Text,
        amount_fen -> BigInt,
    }
}

diesel::table! {
    ledger_sums_channel (year, month, origin_prefecture, buyer_prefecture, pairing_key, channel) {
        year -> Integer,
        month -> Integer,
        origin_prefecture -> Text,
        buyer_prefecture -> Text,
        pairing_key -> Text,
        channel -> Text,
        origin_province -> Text,
        buyer_province -> Text,
        amount_fen -> BigInt,
    }
}

diesel::table! {
    ledger_snapshots (taken_at) {
        taken_at -> Timestamp,
        first_year -> Integer,
        made_at -> Timestamp,
        kind -> Text,
    }
}

diesel::table! {
    ledger_sums_producer (year, origin_prefecture, producer_id, buyer_prefecture, pairing_key) {
        year -> Integer,
        origin_prefecture -> Text,
        producer_id -> Text,
        buyer_prefecture -> Text,
        pairing_key -> Text,
        origin_province -> Text,
        buyer_province -> Text,
        amount_fen -> BigInt,
    }
}

diesel::table! {
    ledger_sums_producer_province (year, origin_province, producer_id, buyer_province, pairing_key) {
        year -> Integer,
        origin_province -> Text,
        producer_id -> Text,
        buyer_province -> Text,
        pairing_key -> Text,
        amount_fen -> BigInt,
    }
}

diesel::table! {
    bank_accounts (org_id) {
        org_id -> Text,
        account_name -> Text,
        bank_name -> Text,
        account_no -> Text,
        stripe_account_id -> Nullable<Text>,
        updated_at -> Timestamp,
        updated_by -> Nullable<Text>,
    }
}

diesel::table! {
    bank_account_events (id) {
        id -> Text,
        org_id -> Text,
        action -> Text,
        actor_user_id -> Nullable<Text>,
        actor_org_id -> Nullable<Text>,
        details -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    service_fees (category) {
        category -> Text,
        rate_bp -> Integer,
        updated_at -> Timestamp,
        updated_by -> Nullable<Text>,
    }
}

diesel::table! {
    settlement_runs (id) {
        id -> Text,
        cutoff -> Timestamp,
        kind -> Text,
        requested_by -> Nullable<Text>,
        created_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        settlements -> Integer,
        payables -> Integer,
    }
}

diesel::table! {
    settlements (id) {
        id -> Text,
        run_id -> Text,
        producer_id -> Text,
        producer_path -> Text,
        producer_region_path -> Text,
        status -> Text,
        gross_fen -> BigInt,
        fee_fen -> BigInt,
        deducted_fen -> BigInt,
        amount_fen -> BigInt,
        line_count -> Integer,
        due_from -> Timestamp,
        due_to -> Timestamp,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        paid_at -> Nullable<Timestamp>,
        cancel_reason -> Nullable<Text>,
    }
}

diesel::table! {
    payables (id) {
        id -> Text,
        cause -> Text,
        kind -> Text,
        producer_id -> Text,
        order_id -> Text,
        sub_order_id -> Text,
        refund_id -> Nullable<Text>,
        gross_fen -> BigInt,
        fee_fen -> BigInt,
        net_fen -> BigInt,
        fee_basis -> Text,
        due_at -> Timestamp,
        created_at -> Timestamp,
        settlement_id -> Nullable<Text>,
    }
}

diesel::table! {
    payouts (id) {
        id -> Text,
        settlement_id -> Text,
        method -> Text,
        status -> Text,
        amount_fen -> BigInt,
        batch_id -> Nullable<Text>,
        external_id -> Nullable<Text>,
        reference -> Nullable<Text>,
        failure_reason -> Nullable<Text>,
        recorded_by -> Nullable<Text>,
        created_at -> Timestamp,
        completed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    settlement_events (id) {
        id -> Text,
        settlement_id -> Text,
        action -> Text,
        actor_user_id -> Nullable<Text>,
        actor_org_id -> Nullable<Text>,
        details -> Text,
        at -> Timestamp,
    }
}

diesel::joinable!(organizations -> regions (region_code));
diesel::joinable!(products -> organizations (producer_id));
diesel::joinable!(products -> regions (origin_region_code));
diesel::joinable!(certification_requests -> products (product_id));
diesel::joinable!(certification_events -> products (product_id));
diesel::joinable!(batches -> products (product_id));
diesel::joinable!(users -> organizations (org_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(sub_orders -> orders (order_id));
diesel::joinable!(order_lines -> sub_orders (sub_order_id));
diesel::joinable!(live_items -> live_sessions (session_id));
diesel::joinable!(live_items -> products (product_id));
diesel::joinable!(order_events -> orders (order_id));
diesel::joinable!(payments -> orders (order_id));
diesel::joinable!(refunds -> sub_orders (sub_order_id));
diesel::joinable!(ratings -> sub_orders (sub_order_id));
diesel::joinable!(refunds -> payments (payment_id));
diesel::joinable!(orders -> organizations (buyer_org_id));
diesel::joinable!(ledger_lines -> ledger_entries (entry_id));
diesel::joinable!(filings -> organizations (org_id));
diesel::joinable!(payables -> settlements (settlement_id));
diesel::joinable!(payouts -> settlements (settlement_id));
diesel::joinable!(settlements -> organizations (producer_id));

diesel::table! {
    cart_lines (user_id, product_id) {
        user_id -> Text,
        product_id -> Text,
        quantity -> BigInt,
        added_at -> Timestamp,
    }
}

diesel::table! {
    order_sheets (id) {
        id -> Text,
        org_id -> Text,
        user_id -> Text,
        file_name -> Text,
        /// JSON: the rows as read, `[{"row", "product", "quantity", "address", "contact", "phone"}]`.
        rows -> Text,
        line_count -> BigInt,
        created_at -> Timestamp,
        placed_at -> Nullable<Timestamp>,
        /// JSON array of the orders the sheet placed.
        order_ids -> Text,
    }
}

diesel::joinable!(cart_lines -> products (product_id));

diesel::allow_tables_to_appear_in_same_query!(
    app_meta,
    cart_lines,
    order_sheets,
    regions,
    organizations,
    users,
    sessions,
    login_failures,
    products,
    certification_requests,
    certification_events,
    batches,
    outbox,
    mail_opt_outs,
    scheduled_runs,
    orders,
    group_buys,
    group_buy_pledges,
    pledge_authorizations,
    sub_orders,
    order_lines,
    order_events,
    payments,
    refunds,
    refund_requests,
    product_labels,
    live_sessions,
    live_items,
    stripe_events,
    ratings,
    idempotency_keys,
    pairings,
    targets,
    filings,
    accounting_events,
    periods,
    ledger_entries,
    ledger_lines,
    ledger_sums_month,
    ledger_sums_month_province,
    ledger_sums_pref,
    ledger_sums_county,
    ledger_sums_buyer,
    ledger_sums_buyer_origin,
    ledger_sums_buyer_origin_province,
    ledger_sums_buyer_donor,
    ledger_sums_buyer_donor_part,
    ledger_sums_buyer_origin_part,
    ledger_sums_buyer_origin_province_part,
    ledger_snapshots,
    ledger_sums_channel,
    ledger_sums_producer,
    ledger_sums_producer_province,
    bank_accounts,
    bank_account_events,
    service_fees,
    settlement_runs,
    settlements,
    payables,
    payouts,
    settlement_events,
);
