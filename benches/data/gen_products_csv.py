#!/usr/bin/env python3
"""Deterministic product CSV for import benchmarks: gen_products_csv.py ROWS OUT.csv"""
import sys, random
n=int(sys.argv[1]); bad=len(sys.argv)>3
random.seed(42)
names=["普安红茶","晴隆绿茶","册亨干香菇","黑木耳","茶树菇","兴仁薏仁米","刺梨干","顶坛花椒","望谟板栗","乌什核桃"]
cats=["tea","tea","edible_fungi","edible_fungi","edible_fungi","grain_oil","specialty_food","specialty_food","fruit","fruit"]
origins=["522323","522324","522327","522327","522328","522302","522301","522325","522326","652927"]
with open(sys.argv[2],"w") as f:
    f.write("name,category,description,origin_region_code,unit,spec,net_weight_g,price_fen,tiers,min_order_qty,stock,storage,shelf_life_days,images\n")
    for i in range(n):
        k=i%10; p=3000+random.randint(0,20000)
        f.write(f"{names[k]} {i},{cats[k]},批量导入 {i},{origins[k]},袋,500g/袋,500,{p},10:{p-100};100:{p-300},1,{random.randint(0,5000)},ambient,365,https://img.example.cn/{i}.jpg\n")
