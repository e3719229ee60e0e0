use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct Category {
    pub code: &'static str,
    /// The Chinese name used on the platform.
    pub name: &'static str,
    pub name_en: &'static str,
}

pub const CATEGORIES: [Category; 10] = [
    Category { code: "tea", name: "茶叶", name_en: "Tea" },
    Category { code: "edible_fungi", name: "食用菌", name_en: "Edible fungi" },
    Category { code: "grain_oil", name: "粮油", name_en: "Grain and oil" },
    Category { code: "meat_eggs", name: "肉禽蛋", name_en: "Meat, poultry and eggs" },
    Category { code: "vegetables", name: "蔬菜", name_en: "Vegetables" },
    Category { code: "fruit", name: "水果", name_en: "Fruit" },
    Category { code: "herbs", name: "中药材", name_en: "Medicinal herbs" },
    Category { code: "specialty_food", name: "特色食品", name_en: "Specialty food" },
    Category { code: "handicraft", name: "手工艺品", name_en: "Handicrafts" },
    Category { code: "other", name: "其他", name_en: "Other" },
];

pub fn find(code: &str) -> Option<&'static Category> {
    CATEGORIES.iter().find(|c| c.code == code)
}

/// Accepts a code or a Chinese name (spreadsheets from producers use either).
pub fn find_by_code_or_name(value: &str) -> Option<&'static Category> {
    let value = value.trim();
    CATEGORIES.iter().find(|c| c.code == value || c.name == value)
}
