//! Chinese text analysis shared by indexing and querying: jieba segmentation with a dictionary
//! extended by our synonyms and place names, pinyin and initials, synonym expansion, stop words.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use jieba_rs::Jieba;
use pinyin::ToPinyin;

pub const SYNONYMS: &str = include_str!("../../search/synonyms.txt");
pub const STOP_WORDS: &str = include_str!("../../search/stopwords.txt");
pub const SETTINGS: &str = include_str!("../../search/settings.json");
const REGIONS: &str = include_str!("../../migrations/data/regions-gb2260.tsv");

/// Ethnic names found in autonomous units' names (黔西南布依族苗族自治州 → 黔西南).
const ETHNIC: [&str; 44] = [
    "布依",
    "苗",
    "侗",
    "土家",
    "彝",
    "藏",
    "羌",
    "回",
    "蒙古",
    "维吾尔",
    "哈萨克",
    "壮",
    "瑶",
    "傣",
    "白",
    "哈尼",
    "傈僳",
    "纳西",
    "景颇",
    "仡佬",
    "水",
    "满",
    "朝鲜",
    "黎",
    "畲",
    "土",
    "撒拉",
    "东乡",
    "保安",
    "裕固",
    "柯尔克孜",
    "塔吉克",
    "锡伯",
    "达斡尔",
    "鄂温克",
    "鄂伦春",
    "仫佬",
    "毛南",
    "各",
    "拉祜",
    "佤",
    "独龙",
    "怒",
    "普米",
];

/// The everyday short form of a place name: 普安县 → 普安, 黔西南布依族苗族自治州 → 黔西南, 新疆维吾尔自治区 → 新疆.
pub fn short_place_name(name: &str) -> &str {
    let mut s = name;
    for suffix in ["自治州", "自治县", "自治旗", "自治区"] {
        if let Some(rest) = s.strip_suffix(suffix) {
            s = rest;
            loop {
                let before = s;
                for e in ETHNIC {
                    if let Some(rest) = s.strip_suffix(&format!("{e}族")).or_else(|| s.strip_suffix(e))
                        && rest.chars().count() >= 2
                    {
                        s = rest;
                        break;
                    }
                }
                if s == before {
                    break;
                }
            }
            return s;
        }
    }
    for suffix in ["地区", "省", "市", "县", "区", "州", "旗", "盟"] {
        if let Some(rest) = s.strip_suffix(suffix)
            && rest.chars().count() >= 2
        {
            return rest;
        }
    }
    s
}

/// One word of a query and what may stand for it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryTerm {
    /// The word itself first, then its synonyms; each as the index tokens it becomes.
    pub variants: Vec<Vec<String>>,
    /// Letters and digits typed as such: pinyin, initials, or a specification like `5kg`.
    pub ascii: bool,
}

pub struct Analyzer {
    jieba: Jieba,
    synonyms: HashMap<String, usize>,
    groups: Vec<Vec<String>>,
    stop_words: HashSet<String>,
}

fn data_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'))
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

impl Analyzer {
    /// The process-wide analyzer (loading jieba's dictionary takes a moment, once).
    pub fn shared() -> Arc<Analyzer> {
        static SHARED: OnceLock<Arc<Analyzer>> = OnceLock::new();
        SHARED.get_or_init(|| Arc::new(Analyzer::new())).clone()
    }

    fn new() -> Analyzer {
        let mut jieba = Jieba::new();
        let mut synonyms = HashMap::new();
        let mut groups = Vec::new();
        for line in data_lines(SYNONYMS) {
            let group: Vec<String> =
                line.split([',', '，']).map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty()).collect();
            for term in &group {
                jieba.add_word(term, None, None);
                synonyms.insert(term.clone(), groups.len());
            }
            groups.push(group);
        }
        for line in data_lines(REGIONS) {
            if let Some(name) = line.split('\t').nth(1) {
                let short = short_place_name(name);
                if short.chars().count() >= 2 {
                    jieba.add_word(short, None, None);
                }
                jieba.add_word(name, None, None);
            }
        }
        let stop_words = data_lines(STOP_WORDS).map(str::to_owned).collect();
        Analyzer { jieba, synonyms, groups, stop_words }
    }

    /// Tokens for indexing text: search-mode segmentation (whole words and the words inside them), lower-cased.
    pub fn index_tokens(&self, text: &str) -> Vec<String> {
        let lower = text.to_lowercase();
        self.jieba
            .cut_for_search(&lower, true)
            .into_iter()
            .map(|t| t.word.trim().to_owned())
            .filter(|w| w.chars().any(is_word_char))
            .collect()
    }

    /// A query's words, with synonyms; stop words and punctuation dropped.
    pub fn query_terms(&self, q: &str) -> Vec<QueryTerm> {
        let lower = q.trim().to_lowercase();
        let mut terms = Vec::new();
        for chunk in lower.split(|c: char| !is_word_char(c)).filter(|c| !c.is_empty()) {
            if chunk.is_ascii() {
                terms.push(QueryTerm { variants: vec![vec![chunk.to_owned()]], ascii: true });
                continue;
            }
            for token in self.jieba.cut(chunk, false) {
                let word = token.word.trim();
                if word.is_empty() || self.stop_words.contains(word) {
                    continue;
                }
                let mut words = vec![word.to_owned()];
                if let Some(group) = self.synonyms.get(word) {
                    words.extend(self.groups[*group].iter().filter(|w| *w != word).cloned());
                }
                let variants = words.iter().map(|w| self.variant_tokens(w)).collect();
                terms.push(QueryTerm { variants, ascii: word.is_ascii() });
            }
        }
        terms
    }

    /// How one query word appears among index tokens: itself when the dictionary knows it, else its parts.
    fn variant_tokens(&self, word: &str) -> Vec<String> {
        let parts: Vec<String> = self.jieba.cut(word, false).into_iter().map(|t| t.word.to_owned()).collect();
        if parts.len() <= 1 { vec![word.to_owned()] } else { parts }
    }

    /// Synonym groups as Meilisearch wants them: every term mapped to the others.
    pub fn synonym_map(&self) -> HashMap<String, Vec<String>> {
        let mut map = HashMap::new();
        for group in &self.groups {
            for term in group {
                map.insert(term.clone(), group.iter().filter(|t| *t != term).cloned().collect());
            }
        }
        map
    }

    pub fn stop_words(&self) -> Vec<String> {
        let mut words: Vec<String> = self.stop_words.iter().cloned().collect();
        words.sort();
        words
    }

    /// Pinyin and initials of a name, per word and for the whole name run together,
    /// so that `xianggu`, `xg` and `puanhong` (a prefix of the whole) all find it.
    pub fn pinyin_fields(&self, name: &str) -> (String, String) {
        let mut full = Vec::new();
        let mut initials = Vec::new();
        let mut whole_full = String::new();
        let mut whole_initials = String::new();
        for token in self.jieba.cut(name, false) {
            let mut word_full = String::new();
            let mut word_initials = String::new();
            for p in token.word.to_pinyin().flatten() {
                let plain = p.plain().replace('ü', "v");
                word_initials.push_str(&plain[..1]);
                word_full.push_str(&plain);
            }
            if !word_full.is_empty() {
                whole_full.push_str(&word_full);
                whole_initials.push_str(&word_initials);
                full.push(word_full);
                initials.push(word_initials);
            }
        }
        if full.len() > 1 {
            full.push(whole_full);
            initials.push(whole_initials);
        }
        (full.join(" "), initials.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn place_names_shorten_like_people_say_them() {
        assert_eq!(short_place_name("黔西南布依族苗族自治州"), "黔西南");
        assert_eq!(short_place_name("沿河土家族自治县"), "沿河");
        assert_eq!(short_place_name("新疆维吾尔自治区"), "新疆");
        assert_eq!(short_place_name("普安县"), "普安");
        assert_eq!(short_place_name("阿克苏地区"), "阿克苏");
        assert_eq!(short_place_name("贵州省"), "贵州");
        assert_eq!(short_place_name("和县"), "和县", "one character is no name");
    }

    #[test]
    fn pinyin_and_initials() {
        let a = Analyzer::shared();
        let (full, initials) = a.pinyin_fields("册亨干香菇");
        assert!(full.split(' ').any(|w| w == "xianggu"), "{full}");
        assert!(initials.split(' ').any(|w| w == "xg"), "{initials}");
        assert!(full.split(' ').any(|w| w.starts_with("cehenggan")), "{full}");
        let (full, _) = a.pinyin_fields("晴隆绿茶");
        assert!(full.contains("lvcha"), "{full}");
    }

    #[test]
    fn queries_expand_synonyms_and_drop_stop_words() {
        let a = Analyzer::shared();
        let terms = a.query_terms("正宗的冬菇");
        assert_eq!(terms.len(), 1, "{terms:?}");
        assert!(terms[0].variants.iter().any(|v| v == &vec!["香菇".to_owned()]), "{terms:?}");
        let terms = a.query_terms("黔西南 红茶");
        assert_eq!(terms.len(), 2, "{terms:?}");
        let terms = a.query_terms("XiangGu");
        assert_eq!(terms, vec![QueryTerm { variants: vec![vec!["xianggu".to_owned()]], ascii: true }]);
    }

    #[test]
    fn indexing_finds_words_inside_words() {
        let a = Analyzer::shared();
        let tokens = a.index_tokens("黔西南黑木耳 250g/袋");
        for t in ["黔西南", "黑木耳", "木耳", "250g"] {
            assert!(tokens.iter().any(|x| x == t), "{t} missing from {tokens:?}");
        }
    }
}
