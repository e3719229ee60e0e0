//! The agency orders in bulk from its workplace: the cart over several producers (tier prices as
//! the quantity reaches them, a double click ordering once) and the order sheet (upload, a
//! preview marking every bad line, placing once, the Chinese template, the limits).

use serde_json::json;

use crate::backend_tests;
use crate::dashboard::{Visitor, attr, location};
use crate::helpers::{TestApp, TestResponse, count_rows};
use crate::orders::{World, world};

fn browser<'a>(app: &'a TestApp, token: &str) -> Visitor<'a> {
    let mut v = Visitor::new(app);
    v.extra.push(("cookie".into(), format!("{}={token}", dongxi::dashboard::SESSION_COOKIE)));
    v
}

fn html(r: &TestResponse, status: u16) -> String {
    r.assert_status(status);
    let text = r.text();
    assert!(text.starts_with("<!DOCTYPE html>"), "a page: {text}");
    text
}

fn token_of(page: &str) -> String {
    attr(page, "logout-token", "value")
}

/// A sheet: a heading and `rows`.
fn csv(rows: &[&str]) -> Vec<u8> {
    let mut s = String::from("\u{feff}商品编码或名称,数量,收货地址,收货人,联系电话\n");
    for r in rows {
        s.push_str(r);
        s.push('\n');
    }
    s.into_bytes()
}

async fn orders_of(app: &TestApp, token: &str) -> usize {
    app.get("/api/v1/orders").token(token).send().await.json()["items"].as_array().unwrap().len()
}

async fn upload(v: &mut Visitor<'_>, csrf: &str, name: &str, file: &[u8]) -> TestResponse {
    v.upload("/agency/sheets", &[("csrf", csrf), ("contact", "王老师"), ("phone", "0752-2280001")], name, file).await
}

backend_tests! {
    async fn an_order_sheet_is_previewed_line_by_line_and_placed_once(app: TestApp) {
        let w: World = world(&app).await;
        let mut school = browser(&app, &w.school);
        let page = html(&school.get("/agency/sheets").await, 200);
        let csrf = token_of(&page);
        assert!(page.contains("1 MB") && page.contains("5000"), "the limits are stated");
        let canteen = "广东省惠州市惠城区江北三新南路 惠州市第一中学食堂";
        let dorm = "广东省惠州市惠城区 惠州市第一中学宿舍楼";
        let bad = csv(&[
            &format!("{},12,{canteen},,", w.tea),
            "册亨干香菇,1,广东省惠州市惠城区 惠州市第一中学食堂,,",
            &format!("prd_nosuchthing,3,{canteen},,"),
            &format!("册亨干香菇,1300,{dorm},李老师,13800000000"),
            &format!("{},二十,{canteen},,", w.fungi),
        ]);
        let stored = upload(&mut school, &csrf, "十二月订货单.csv", &bad).await;
        stored.assert_status(303);
        let preview_path = location(&stored);
        let preview = html(&school.get(&preview_path).await, 200);
        assert_eq!(attr(&preview, "summary", "data-bad"), "4", "{preview}");
        assert_eq!(attr(&preview, "line-2", "data-ok"), "true");
        assert!(preview.contains("158.00"), "12 tins reach the 10+ tier: {preview}");
        for (row, says) in [(3, "起订"), (4, "没有在售的商品"), (5, "库存不足"), (6, "须是 1 到")] {
            assert_eq!(attr(&preview, &format!("line-{row}"), "data-ok"), "false", "row {row}");
            let at = preview.find(&format!("id=\"line-{row}\"")).unwrap();
            let line = &preview[at..at + preview[at..].find("</tr>").unwrap()];
            assert!(line.contains(says), "row {row} says {says}: {line}");
        }
        assert!(!preview.contains("id=\"place\""), "no place form while lines are wrong");
        assert_eq!(orders_of(&app, &w.school).await, 0, "a preview places nothing");
        let sheet_id = preview_path.rsplit('/').next().unwrap().to_owned();
        let refused = school.post(&format!("/agency/sheets/{sheet_id}/place"), &[("csrf", &csrf)]).await;
        assert!(html(&refused, 409).contains("行有误"));
        assert_eq!(orders_of(&app, &w.school).await, 0, "a sheet with bad lines places nothing");

        // Fixed: two deliveries, so two orders; the fungi by name, the tea by code.
        let good = csv(&[
            &format!("{},12,{canteen},,", w.tea),
            &format!("册亨干香菇,20,{canteen},,"),
            &format!("{},5,{dorm},李老师,13800000000", w.tea),
        ]);
        let fixed = location(&upload(&mut school, &csrf, "十二月订货单.csv", &good).await);
        let preview = html(&school.get(&fixed).await, 200);
        assert_eq!(attr(&preview, "summary", "data-bad"), "0", "{preview}");
        assert!(preview.contains("确认下单（2 张订单"), "{preview}");
        let sheet_id = fixed.rsplit('/').next().unwrap().to_owned();
        let place = format!("/agency/sheets/{sheet_id}/place");
        let forged = school.post(&place, &[("csrf", "forged")]).await;
        assert!(html(&forged, 403).contains("csrf_failed"));
        let placed = school.post(&place, &[("csrf", &csrf)]).await;
        assert_eq!((placed.status.as_u16(), location(&placed)), (303, fixed.clone()));
        let twice = school.post(&place, &[("csrf", &csrf)]).await;
        assert_eq!(twice.status.as_u16(), 303, "a double click lands on the same orders");
        assert_eq!(orders_of(&app, &w.school).await, 2, "placed once");
        let done = html(&school.get(&fixed).await, 200);
        assert_eq!(attr(&done, "placed", "data-orders"), "2");
        let orders = app.get("/api/v1/orders").token(&w.school).send().await.json();
        let totals: Vec<i64> = orders["items"].as_array().unwrap().iter().map(|o| o["total_fen"].as_i64().unwrap()).collect();
        let mut sorted = totals.clone();
        sorted.sort();
        // 12 tins at ¥158 and 20 bags at ¥62; 5 tins at the list price.
        assert_eq!(sorted, vec![5 * 16800, 12 * 15800 + 20 * 6200]);
        let canteen_order = orders["items"].as_array().unwrap().iter().find(|o| o["delivery"]["address"] == canteen).unwrap();
        assert_eq!(canteen_order["delivery"]["contact_name"], "王老师", "the form's default contact");

        // Another organisation's sheet is not there for it.
        let mut ningbo = browser(&app, &w.stranger);
        html(&ningbo.get(&fixed).await, 404);
        let other_csrf = token_of(&html(&ningbo.get("/agency/sheets").await, 200));
        html(&ningbo.post(&place, &[("csrf", &other_csrf)]).await, 404);
        assert_eq!(orders_of(&app, &w.stranger).await, 0);
    }

    async fn an_xlsx_sheet_and_the_template_read_alike(app: TestApp) {
        let w = world(&app).await;
        let mut school = browser(&app, &w.school);
        let csrf = token_of(&html(&school.get("/agency/sheets").await, 200));
        let template = school.get("/agency/sheet-template?format=xlsx").await;
        template.assert_status(200);
        let (headers, _) = read_xlsx(&template.body);
        assert_eq!(headers, ["商品编码或名称", "数量", "收货地址", "收货人", "联系电话"]);
        let csv_template = school.get("/agency/sheet-template?format=csv").await;
        assert!(csv_template.text().starts_with("\u{feff}商品编码或名称,数量,收货地址"), "{}", csv_template.text());
        html(&school.get("/agency/sheet-template?format=pdf").await, 422);

        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        for (i, h) in ["商品名称", "数量", "地址", "联系人", "电话"].iter().enumerate() {
            sheet.write_string(0, i as u16, *h).unwrap();
        }
        sheet.write_string(1, 0, "普安红茶 明前特级").unwrap();
        sheet.write_number(1, 1, 50).unwrap();
        sheet.write_string(1, 2, "广东省惠州市惠城区 惠州市第一中学食堂").unwrap();
        sheet.write_string(1, 3, "陈老师").unwrap();
        sheet.write_string(1, 4, "0752-2280002").unwrap();
        let bytes = book.save_to_buffer().unwrap();
        let stored = upload(&mut school, &csrf, "order.xlsx", &bytes).await;
        let preview = html(&school.get(&location(&stored)).await, 200);
        assert_eq!(attr(&preview, "summary", "data-bad"), "0", "{preview}");
        assert!(preview.contains("148.00") && preview.contains("7,400.00"), "50 tins at the 50+ tier: {preview}");
    }

    async fn a_malformed_or_huge_sheet_is_refused_beside_the_file(app: TestApp) {
        let w = world(&app).await;
        let mut school = browser(&app, &w.school);
        let csrf = token_of(&html(&school.get("/agency/sheets").await, 200));
        let cases: [(&str, Vec<u8>, u16, &str); 5] = [
            ("order.pdf", b"%PDF-1.7".to_vec(), 422, "不是 .xlsx 或 .csv"),
            ("order.xlsx", b"PK\x03\x04 not really a workbook".to_vec(), 422, "无法读取"),
            ("order.csv", "名称,件数\n茶,1\n".as_bytes().to_vec(), 422, "表头"),
            ("order.csv", csv(&[]), 422, "没有订货行"),
            ("order.csv", vec![b'a'; 1_200_000], 413, "上限"),
        ];
        for (name, bytes, status, says) in cases {
            let page = html(&upload(&mut school, &csrf, name, &bytes).await, status);
            let at = page.find("id=\"error-file\"").unwrap_or_else(|| panic!("{name}: no error beside the file: {page}"));
            assert!(page[at..].contains(says), "{name}: {says}");
        }
        let many: Vec<String> = (0..5001).map(|_| format!("{},1,地址,张三,13800000000", w.tea)).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let page = html(&upload(&mut school, &csrf, "order.csv", &csv(&many)).await, 422);
        assert!(page.contains("最多 5000 行"), "{page}");
        assert_eq!(count_rows(&app, "order_sheets").await, 0, "nothing kept");
        let forged = upload(&mut school, "forged", "order.csv", &csv(&[&format!("{},12,地址,张三,13800000000", w.tea)])).await;
        assert!(html(&forged, 403).contains("csrf_failed"));
        assert_eq!(count_rows(&app, "order_sheets").await, 0, "nothing kept");
        let mut tea = browser(&app, &w.tea_producer);
        html(&tea.get("/agency/sheets").await, 403);
    }

    async fn a_cart_over_two_producers_prices_by_tier_and_orders_once(app: TestApp) {
        let w = world(&app).await;
        app.index_now().await;
        let mut school = browser(&app, &w.school);
        let goods = html(&school.get("/agency/goods").await, 200);
        assert!(goods.contains(&format!("id=\"add-{}\"", w.tea)), "each hit has an add form");
        let csrf = token_of(&goods);
        for (id, q) in [(&w.tea, "9"), (&w.fungi, "20")] {
            let r = school.post("/agency/cart", &[("csrf", &csrf), ("product_id", id), ("quantity", q)]).await;
            assert_eq!((r.status.as_u16(), location(&r)), (303, "/agency/cart".to_owned()));
        }
        let cart = html(&school.get("/agency/cart").await, 200);
        assert_eq!(attr(&cart, &format!("line-{}", w.tea), "data-price"), "168.00", "9 tins: the list price");
        assert!(cart.contains("再加 1罐，单价降到 ¥158.00"), "the next tier: {cart}");
        assert_eq!(attr(&cart, &format!("line-{}", w.fungi), "data-price"), "62.00");
        // One more tin reaches the tier; a bad quantity is shown beside its field and changes nothing.
        let line = format!("/agency/cart/lines/{}", w.tea);
        let bad = school.post(&line, &[("csrf", &csrf), ("quantity", "十")]).await;
        let page = html(&bad, 422);
        assert!(page.contains(&format!("id=\"error-{}\"", w.tea)), "{page}");
        assert_eq!(attr(&page, &format!("line-{}", w.tea), "data-price"), "168.00", "unchanged");
        school.post("/agency/cart", &[("csrf", &csrf), ("product_id", &w.tea), ("quantity", "1")]).await.assert_status(303);
        let cart = html(&school.get("/agency/cart").await, 200);
        assert_eq!(attr(&cart, &format!("line-{}", w.tea), "data-price"), "158.00", "10 tins: the 10+ tier");
        let refused = school.post("/agency/cart", &[("csrf", &csrf), ("product_id", "prd_nosuch"), ("quantity", "1")]).await;
        assert!(html(&refused, 409).contains("id=\"error-prd_nosuch\""));

        // Placing: a bad phone beside its field, then the order, twice with one key: one order.
        assert!(cart.contains("id=\"place\""), "a place form under the cart");
        let key = cart.split("name=\"key\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        let form = |phone: &str| -> Vec<(&'static str, String)> {
            vec![("csrf", csrf.clone()), ("key", key.clone()), ("address", "广东省惠州市惠城区 惠州市第一中学食堂".into()),
                 ("contact_name", "王老师".into()), ("phone", phone.into()), ("note", String::new())]
        };
        let refs = |f: &[(&'static str, String)]| f.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>();
        let bad_phone = refs(&form("电话"));
        let bad_phone: Vec<(&str, &str)> = bad_phone.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = html(&school.post("/agency/cart/place", &bad_phone).await, 422);
        assert!(page.contains("id=\"error-phone\""), "{page}");
        assert_eq!(orders_of(&app, &w.school).await, 0);
        let good = form("0752-2280001");
        let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let first = school.post("/agency/cart/place", &good).await;
        first.assert_status(303);
        let second = school.post("/agency/cart/place", &good).await;
        assert_eq!(location(&first), location(&second), "the same key lands on the same order");
        assert_eq!(orders_of(&app, &w.school).await, 1, "a double click orders once");
        let order = app.get("/api/v1/orders").token(&w.school).send().await.json()["items"][0].clone();
        assert_eq!(order["total_fen"], json!(10 * 15800 + 20 * 6200));
        assert_eq!(order["sub_orders"].as_array().unwrap().len(), 2, "a sub-order per producer");
        assert!(html(&school.get("/agency/cart").await, 200).contains("id=\"empty\""), "the cart is emptied");
        assert_eq!(count_rows(&app, "cart_lines").await, 0);
    }
}

/// The first sheet's headings and rows.
fn read_xlsx(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    use calamine::{Reader, open_workbook_auto_from_rs};
    let mut book = open_workbook_auto_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let first = book.sheet_names()[0].clone();
    let range = book.worksheet_range(&first).unwrap();
    let mut rows = range.rows().map(|r| r.iter().map(|c| c.to_string()).collect::<Vec<_>>());
    let headers = rows.next().unwrap();
    (headers, rows.collect())
}
