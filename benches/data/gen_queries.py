#!/usr/bin/env python3
"""Writes search/bench-queries.txt: realistic product queries (Chinese, pinyin, initials, synonyms)
with filters and sorts, one URL query string per line. Deterministic: seed 2021."""
import random

random.seed(2021)
WORDS = [  # (Chinese, full pinyin, initials)
    ("香菇", "xianggu", "xg"), ("冬菇", "donggu", "dg"), ("花菇", "huagu", "hg"), ("木耳", "muer", "me"),
    ("黑木耳", "heimuer", "hme"), ("茶树菇", "chashugu", "csg"), ("金耳", "jiner", "je"), ("红茶", "hongcha", "hc"),
    ("绿茶", "lvcha", "lc"), ("白茶", "baicha", "bc"), ("毛峰", "maofeng", "mf"), ("翠芽", "cuiya", "cy"),
    ("普安红", "puanhong", "pah"), ("薏仁米", "yirenmi", "yrm"), ("薏米", "yimi", "ym"), ("刺梨", "cili", "cl"),
    ("核桃", "hetao", "ht"), ("花椒", "huajiao", "hj"), ("大米", "dami", "dm"), ("糯米", "nuomi", "nm"),
    ("板栗", "banli", "bl"), ("芒果", "mangguo", "mg"), ("空心李", "kongxinli", "kxl"), ("土鸡", "tuji", "tj"),
    ("鸡蛋", "jidan", "jd"), ("蜂蜜", "fengmi", "fm"), ("天麻", "tianma", "tm"), ("黄芪", "huangqi", "hq"),
    ("白芨", "baiji", "bj"), ("牦牛肉", "maoniurou", "mnr"), ("土豆", "tudou", "td"), ("辣椒", "lajiao", "lj"),
    ("红枣", "hongzao", "hz"), ("粽子", "zongzi", "zz"), ("香包", "xiangbao", "xb"), ("茶叶", "chaye", "cy"),
]
PLACES = ["黔西南", "普安", "晴隆", "册亨", "安龙", "兴仁", "兴义", "贞丰", "望谟", "乌什", "平武", "九龙", "沿河", "贵州", "新疆", "四川"]
SYNONYMS = ["冬菇", "花菇", "薏米", "薏苡仁", "胡桃", "木梨子", "大红袍", "云耳", "马铃薯", "洋芋", "栗子", "草鸡蛋", "功夫红茶", "黄耆", "白及"]
ADJ = ["礼盒", "干品", "特级", "明前", "高山", "有机", "散装", "食堂装", "5kg", "250g"]
CATEGORIES = ["tea", "edible_fungi", "grain_oil", "meat_eggs", "vegetables", "fruit", "herbs", "specialty_food"]
ORIGINS = ["520000", "522300", "522323", "522324", "522327", "522302", "650000", "652900", "652927", "510000", "510727", "513324", "520627"]
SORTS = ["relevance", "price_asc", "price_desc", "newest", "rating"]


def query():
    kind = random.random()
    w = random.choice(WORDS)
    if kind < 0.30:
        q = w[0]
    elif kind < 0.45:
        q = w[1]
    elif kind < 0.52:
        q = w[2]
    elif kind < 0.62:
        q = random.choice(SYNONYMS)
    elif kind < 0.77:
        q = random.choice(PLACES) + random.choice(["", " "]) + w[0]
    elif kind < 0.87:
        q = w[0] + " " + random.choice(ADJ)
    elif kind < 0.93:
        q = random.choice(PLACES)
    else:
        q = ""
    params = {"q": q}
    if random.random() < 0.25:
        params["category"] = random.choice(CATEGORIES)
    if random.random() < 0.25:
        params["origin"] = random.choice(ORIGINS)
    if random.random() < 0.10:
        params["storage"] = random.choice(["ambient", "chilled", "frozen"])
    if random.random() < 0.20:
        lo = random.choice([0, 1000, 3000, 5000])
        params["price_min_fen"] = str(lo)
        params["price_max_fen"] = str(lo + random.choice([2000, 5000, 10000, 50000]))
    if random.random() < 0.15:
        params["in_stock"] = "true"
    if random.random() < 0.35:
        params["sort"] = random.choice(SORTS)
    if random.random() < 0.10:
        params["offset"] = str(random.choice([20, 40, 100]))
    params["limit"] = "20"
    # Readable in the file: a space is "+", CJK stays as is; the benchmark percent-encodes when sending.
    return "&".join(f"{k}={v.replace(' ', '+')}" for k, v in params.items())


with open("search/bench-queries.txt", "w") as out:
    out.write("# 1,200 product queries for the search benchmarks; made by benches/data/gen_queries.py\n")
    for _ in range(1200):
        out.write(query() + "\n")
