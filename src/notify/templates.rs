//! Mail templates: one folder per mail under `templates/` with `subject.txt`, `body.txt` and
//! `body.html` (extending `layout.txt` / `layout.html`), compiled into the binary and rendered
//! with minijinja. HTML is escaped automatically (by the `.html` name); text is not.

use std::sync::OnceLock;

use minijinja::Environment;
use serde::Serialize;

use crate::error::AppResult;

macro_rules! mails {
    ($($name:literal),* $(,)?) => {
        /// Every mail there is a template for.
        pub const NAMES: &[&str] = &[$($name),*];
        const SOURCES: &[(&str, &str)] = &[
            ("layout.txt", include_str!("templates/layout.txt")),
            ("layout.html", include_str!("templates/layout.html")),
            $(
                (concat!($name, "/subject.txt"), include_str!(concat!("templates/", $name, "/subject.txt"))),
                (concat!($name, "/body.txt"), include_str!(concat!("templates/", $name, "/body.txt"))),
                (concat!($name, "/body.html"), include_str!(concat!("templates/", $name, "/body.html"))),
            )*
        ];
    };
}

mails!(
    "order_placed_buyer",
    "order_placed_producer",
    "sub_order_shipped",
    "refund_recorded",
    "certification_approved",
    "certification_rejected",
    "certificate_expiring",
    "certificate_expired",
    "filing_returned",
    "group_buy_opened",
    "group_buy_closing_soon",
    "group_buy_result",
    "digest",
    "bulletin",
    "account_created",
    "settlement_paid",
    "bank_account_changed",
);

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_keep_trailing_newline(true);
        for (name, source) in SOURCES {
            // The sources are compiled in and checked by the tests: a broken one is a build defect.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "mail template does not parse");
            }
        }
        env
    })
}

/// A rendered mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Renders mail `name` with `context` (which also carries `recipient_name` and, for mail one may
/// refuse, `unsubscribe_url`).
pub fn render<S: Serialize>(name: &str, context: &S) -> AppResult<Rendered> {
    let env = environment();
    let part = |file: &str| -> AppResult<String> {
        let template = env
            .get_template(&format!("{name}/{file}"))
            .map_err(|e| anyhow::anyhow!("mail template {name}/{file}: {e}"))?;
        Ok(template.render(context).map_err(|e| anyhow::anyhow!("rendering {name}/{file}: {e}"))?)
    };
    let subject = part("subject.txt")?.split_whitespace().collect::<Vec<_>>().join(" ");
    Ok(Rendered { subject, text: part("body.txt")?, html: part("body.html")? })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn line() -> Value {
        json!({"name": "普安红茶 明前特级", "spec": "250g/罐", "quantity": 60, "unit": "罐", "unit_price": "150.00",
            "subtotal": "9,000.00", "producer": "普安县茶源茶叶专业合作社"})
    }

    /// A context for every template: what the mail worker gives it, with fixed values.
    fn sample(name: &str) -> Value {
        let mut c = json!({"recipient_name": "王老师", "unsubscribe_url": null});
        let add = |c: &mut Value, v: Value| {
            for (k, x) in v.as_object().unwrap() {
                c[k] = x.clone();
            }
        };
        let delivery = json!({"address": "广东省惠州市惠城区麦地路 1 号 <食堂>", "contact_name": "王老师", "phone": "0752-2222222"});
        match name {
            "order_placed_buyer" => add(
                &mut c,
                json!({"order_id": "ord_1", "buyer_name": "惠州市第一中学", "placed_at": "2026年11月23日 16:00",
                "group_buy_title": "冬季集中采购", "total": "9,000.00", "lines": [line()], "delivery": delivery}),
            ),
            "order_placed_producer" => add(
                &mut c,
                json!({"order_id": "ord_1", "sub_order_id": "sub_1", "buyer_name": "惠州市第一中学",
                "producer_name": "普安县茶源茶叶专业合作社", "placed_at": "2026年11月23日 16:00", "total": "9,000.00", "lines": [line()], "delivery": delivery}),
            ),
            "sub_order_shipped" => add(
                &mut c,
                json!({"order_id": "ord_1", "producer_name": "普安县茶源茶叶专业合作社", "shipped_at": "2026年11月25日 10:00",
                "carrier": "顺丰速运", "tracking_no": "SF1234567890", "invoice_no": "44031234", "lines": [line()]}),
            ),
            "refund_recorded" => add(
                &mut c,
                json!({"order_id": "ord_1", "producer_name": "普安县茶源茶叶专业合作社", "amount": "150.00",
                "reason": "一罐破损", "refunded_total": "150.00", "pending": true}),
            ),
            "certification_approved" => add(
                &mut c,
                json!({"product_name": "普安红茶 明前特级", "spec": "250g/罐",
                "certificate_no": "DX-522323-2026-7KQ2MZ", "valid_until": "2027年12月31日"}),
            ),
            "certification_rejected" => {
                add(&mut c, json!({"product_name": "普安红茶 明前特级", "spec": "250g/罐", "reason": "缺少检测报告"}))
            }
            "certificate_expiring" => add(
                &mut c,
                json!({"product_name": "普安红茶 明前特级", "certificate_no": "DX-522323-2026-7KQ2MZ",
                "valid_until": "2027年12月31日", "days_left": 30}),
            ),
            "certificate_expired" => add(
                &mut c,
                json!({"product_name": "普安红茶 明前特级", "certificate_no": "DX-522323-2026-7KQ2MZ",
                "valid_until": "2027年12月31日"}),
            ),
            "filing_returned" => add(
                &mut c,
                json!({"org_name": "惠州市第一中学", "year": 2021, "budget": "3,000,000.00", "share": "8.00%",
                "reason": "比例低于 10% 须说明理由"}),
            ),
            "group_buy_opened" => add(
                &mut c,
                json!({"organizer_name": "惠州市协作办", "title": "冬季集中采购 册亨干香菇", "closes_at": "2026年12月5日 18:00",
                "product_name": "册亨干香菇", "spec": "500g/袋", "unit": "袋", "list_price": "68.00", "min_total_qty": 200,
                "tiers": [{"min_qty": 1, "price": "65.00"}, {"min_qty": 200, "price": "60.00"}]}),
            ),
            "group_buy_closing_soon" => add(
                &mut c,
                json!({"title": "冬季集中采购 册亨干香菇", "closes_at": "2026年12月5日 18:00",
                "headline": "还差 20 袋成团，当前 65 元/袋", "total_qty": 180, "pledge_count": 2, "unit": "袋", "my_quantity": 120}),
            ),
            "group_buy_result" => add(
                &mut c,
                json!({"title": "冬季集中采购 册亨干香菇", "outcome": "成团", "succeeded": true, "total_qty": 240,
                "pledge_count": 3, "unit": "袋", "final_price": "60.00", "my_quantity": 120, "my_order_id": "ord_9", "my_total": "7,200.00", "reason": null}),
            ),
            "digest" => add(
                &mut c,
                json!({"week": "2026年第48周", "headline": "惠州市 进度滞后", "as_of": "2026年11月23日 08:00", "year": 2026,
                "unsubscribe_url": "https://dongxi.example/mail/unsubscribe?token=abc",
                "sections": [{"scope_name": "惠州市", "scope_label": "采购方（帮扶地区）", "target": "1,000,000.00", "counted": "450,000.00",
                    "percent": "45.0%", "expected": "890,000.00", "projected": "508,000.00", "status": "进度滞后",
                    "laggards": [{"name": "惠州市第一中学", "target": "300,000.00", "counted": "20,000.00", "percent": "6.7%"}]}]}),
            ),
            "bulletin" => add(
                &mut c,
                json!({"title": "2021年上半年", "starts_on": "2021-01-01", "ends_on": "2021-06-30", "as_of": "2021年7月1日 08:00",
                "region": "惠州市东西部协作办公室", "unsubscribe_url": "https://dongxi.example/mail/unsubscribe?token=abc",
                "sections": [{"org_name": "惠州市教育局", "units": 3, "achieved": 1, "on_track": 1, "behind": 1, "no_target": 0,
                    "target": "740,000.00", "counted": "512,000.00", "percent": "69.2%",
                    "link": "https://dongxi.example/dashboard/bulletin?year=2021&period=H1&scope=org%3Aorg_1",
                    "furthest_behind": [{"name": "惠州市第三中学", "percent": "31.0%", "counted": "46,500.00"}]}]}),
            ),
            "account_created" => add(
                &mut c,
                json!({"org_name": "惠州市第一中学", "email": "canteen@hz.example", "role": "成员",
                "created_at": "2026年11月23日 16:00"}),
            ),
            "settlement_paid" => add(
                &mut c,
                json!({"producer_name": "普安县茶源茶叶专业合作社", "settlement_id": "stl_1", "period": "2021年9月1日 至 2021年9月7日",
                "amount": "8,820.00", "gross": "9,000.00", "fee": "0.00", "deducted": "180.00", "lines": 3,
                "method": "银行转账", "reference": "ICBC20210908001", "paid_at": "2021年9月8日 10:00"}),
            ),
            "bank_account_changed" => add(
                &mut c,
                json!({"org_name": "普安县茶源茶叶专业合作社", "action": "变更", "at": "2026年11月23日 16:00", "actor_name": "李会计",
                "account_name": "普安县茶源茶叶专业合作社", "bank_name": "中国农业银行普安县支行", "account_no": "•••• 0123",
                "before": {"account_name": "普安县茶源茶叶专业合作社", "bank_name": "贵州普安农村商业银行", "account_no": "•••• 9876"}}),
            ),
            other => panic!("no sample for {other}"),
        }
        c
    }

    #[test]
    fn every_mail_renders_in_chinese_with_both_parts() {
        for name in NAMES {
            let r = render(name, &sample(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!r.subject.is_empty() && !r.subject.contains('\n'), "{name}: {:?}", r.subject);
            assert!(r.text.starts_with("王老师，您好："), "{name}: {}", r.text);
            assert!(r.html.contains("<html lang=\"zh-CN\">") && r.html.contains("王老师，您好："), "{name}");
            assert!(!r.text.contains("{{") && !r.html.contains("{%"), "{name}: unrendered markup");
            insta::assert_snapshot!(
                format!("{name}"),
                format!("Subject: {}\n\n{}\n----- html -----\n{}", r.subject, r.text, r.html)
            );
        }
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let r = render("order_placed_buyer", &sample("order_placed_buyer")).unwrap();
        assert!(r.html.contains("&lt;食堂&gt;") && !r.html.contains("<食堂>"));
        assert!(r.text.contains("<食堂>"));
    }

    #[test]
    fn the_unsubscribe_link_appears_only_where_given() {
        assert!(
            render("digest", &sample("digest"))
                .unwrap()
                .text
                .contains("https://dongxi.example/mail/unsubscribe?token=abc")
        );
        assert!(!render("account_created", &sample("account_created")).unwrap().text.contains("退订"));
    }
}
