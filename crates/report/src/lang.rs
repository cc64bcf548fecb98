//! The scorecard's words in English and Chinese. Figures and identifiers
//! (vendor ids, channel kinds, rules) stay as they are in both.

use std::collections::BTreeMap;

/// A language the scorecard is rendered in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lang {
    #[default]
    En,
    Zh,
}

impl Lang {
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }
}

impl std::str::FromStr for Lang {
    type Err = String;
    fn from_str(s: &str) -> Result<Lang, String> {
        match s {
            "en" => Ok(Lang::En),
            "zh" | "zh-CN" | "zh-cn" => Ok(Lang::Zh),
            other => Err(format!("unknown language `{other}` (expected en or zh)")),
        }
    }
}

/// (key, English, Chinese).
const WORDS: &[(&str, &str, &str)] = &[
    ("title", "Support POC scorecard", "技术支持 POC 评分卡"),
    ("generated", "Generated", "生成时间"),
    ("period", "Period", "统计区间"),
    ("whole_store", "everything in the store", "存储中的全部数据"),
    ("ranking", "Ranking", "排名"),
    ("rank_note", "by first human responses within promise, all priorities", "按首次人工响应达标率（全部优先级）"),
    ("verdict", "Verdict", "结论"),
    ("table", "Promise against reality", "承诺与实际"),
    ("channels", "Channels", "渠道"),
    ("charts", "Charts", "图表"),
    ("communication", "Communication", "沟通"),
    ("evidence", "Evidence", "证据"),
    ("method", "Method", "统计方法"),
    ("vendor", "Vendor", "厂商"),
    ("priority", "Priority", "优先级"),
    ("measure", "Measure", "指标"),
    ("channel", "Channel", "渠道"),
    ("target", "Target", "目标"),
    ("calendar", "Calendar", "日历"),
    ("probes", "Probes", "探测数"),
    ("judged", "Judged", "已判定"),
    ("met", "Met", "达标"),
    ("breached", "Breached", "违约"),
    ("unanswered", "Never answered", "始终未答复"),
    ("waiting", "Waiting", "等待中"),
    ("compliance", "Within promise", "达标率"),
    ("ci95", "95 % CI", "95% 置信区间"),
    ("median", "Median", "中位数"),
    ("p90", "p90", "p90"),
    ("business", "business hours", "工作时间"),
    ("worst", "Worst", "最差"),
    ("grade", "Grade", "评级"),
    ("excellent", "excellent", "优秀"),
    ("acceptable", "acceptable", "合格"),
    ("failing", "failing", "不合格"),
    ("insufficient_data", "insufficient data", "数据不足"),
    ("first_response", "first human response", "首次人工响应"),
    ("next_reply", "next reply", "后续回复"),
    ("resolution", "resolution", "解决"),
    ("update_interval", "update interval", "更新间隔"),
    ("all", "all channels", "全部渠道"),
    ("by_channel", "By channel", "按渠道"),
    ("not_reached", "not reached", "未达到"),
    ("no_promise", "no promise", "无承诺"),
    ("none", "none", "无"),
    ("significant", "significantly better than", "显著优于"),
    ("not_significant", "not significantly different from", "与下一名差异不显著："),
    ("difference", "difference", "差值"),
    ("answered_by_person", "Answered by a person", "有人工答复"),
    ("bot_turns", "Bot/auto turns before a person", "人工之前的机器人/自动回复"),
    ("first_human_median", "Median first human response", "首次人工响应中位数"),
    ("in_hours", "opened in hours", "工作时间内发起"),
    ("out_of_hours", "opened out of hours", "工作时间外发起"),
    ("hours", "In hours and out of hours", "工作时间内与工作时间外"),
    ("weekly", "Within promise per week", "每周达标率"),
    ("week", "Week", "周"),
    ("curve", "Share still waiting for a person", "仍在等待人工答复的比例"),
    (
        "curve_note",
        "Kaplan–Meier estimate; unanswered probes are censored at their last look; dashed: the promise",
        "Kaplan–Meier 估计；未答复的探测在最后一次查看时删失；虚线为承诺时限",
    ),
    ("handoffs", "Handoffs", "转交"),
    ("escalated", "Escalated", "升级"),
    ("escalation_engineer", "to the first reply by one of the vendor's engineers", "至厂商工程师首次回复"),
    (
        "escalation_handoff",
        "to the first handoff to a second person (no engineers configured)",
        "至首次转交给第二个人（未配置工程师）",
    ),
    (
        "asked_for_diagnostics",
        "Asked for diagnostics (logs, versions, reproduction steps)",
        "主动索取诊断信息（日志、版本、复现步骤）",
    ),
    ("reopened", "Marked solved, but the conversation went on", "标记已解决后对话仍在继续"),
    ("longest_silence", "Longest silence while answered and unresolved", "已答复未解决期间的最长沉默"),
    ("median_of_probes", "median per probe", "每个探测的中位数"),
    ("longest", "longest", "最长"),
    ("open_silence", "silent now for", "当前已沉默"),
    ("median_time", "median time", "时间中位数"),
    ("probes_with_handoffs", "Probes handed to another person", "被转交给他人的探测"),
    ("ratings", "Evaluator ratings", "评估人评分"),
    ("mean_quality", "Mean quality (1–5)", "平均质量（1–5）"),
    ("solved", "Solved", "是否解决"),
    ("yes", "yes", "是"),
    ("partly", "partly", "部分"),
    ("no", "no", "否"),
    ("reference", "Reference", "编号"),
    ("scenario", "Scenario", "场景"),
    ("state", "State", "状态"),
    ("opened_at", "Opened", "发起时间"),
    ("ticket", "Ticket", "工单"),
    ("at", "Time", "时间"),
    ("author", "Author", "作者"),
    ("class", "Class", "分类"),
    ("rule", "Rule", "判定规则"),
    ("excerpt", "Excerpt", "摘录"),
    ("figures", "Figures", "指标"),
    ("timeline", "What else happened", "其他事件"),
    ("rate", "Rate this probe", "为此探测评分"),
    ("quality", "Quality", "质量"),
    ("note", "Note", "备注"),
    ("token", "API token", "API 令牌"),
    ("save", "Save rating", "保存评分"),
    ("token_note", "Needed once; kept in this browser only.", "只需输入一次；仅保存在本浏览器中。"),
    ("in_hours_short", "in hours", "工作时间内"),
    ("out_of_hours_short", "out of hours", "工作时间外"),
    ("promised", "promised", "承诺"),
    ("of", "of", "/"),
    ("within_promise", "within promise", "达标"),
    ("median_first_human", "median first human response", "首次人工响应中位数"),
    ("no_probes", "No probes counted yet.", "尚无计入统计的探测。"),
    ("all_probes", "All probes", "全部探测"),
    ("back", "Back to the scorecard", "返回评分卡"),
    ("refreshes", "This page refreshes itself every 30 s.", "本页每 30 秒自动刷新。"),
    ("seen", "Probes created in the period", "区间内创建的探测"),
    ("counted", "Counted", "计入统计"),
    ("excluded_skipped", "Left out: skipped (caps, pause, quiet hours)", "未计入：跳过（上限、暂停、静默时段）"),
    ("excluded_dry_run", "Left out: dry runs", "未计入：演练（dry run）"),
    ("excluded_manual", "Left out: manual runs (once without --count)", "未计入：手动运行（once 未加 --count）"),
    ("excluded_failed_open", "Left out: could not be opened", "未计入：未能创建"),
    ("excluded_not_opened_yet", "Left out: not opened yet", "未计入：尚未创建"),
    ("excluded_other_hours", "Left out: opened on the other side of business hours", "未计入：在另一时段发起"),
    ("only_in_hours", "Only probes opened in the promise's hours", "仅统计在承诺工作时间内发起的探测"),
    ("only_out_of_hours", "Only probes opened outside the promise's hours", "仅统计在承诺工作时间外发起的探测"),
    ("timezone", "Time zone", "时区"),
    ("version", "supportprobe version", "supportprobe 版本"),
];

/// The words of a language, by key.
pub fn words(lang: Lang) -> BTreeMap<&'static str, &'static str> {
    WORDS.iter().map(|(k, en, zh)| (*k, if lang == Lang::Zh { *zh } else { *en })).collect()
}

/// A duration as people read it: `45 s`, `32 min`, `1 h 05 min`, `2 d 03 h`.
pub fn duration(secs: f64, lang: Lang) -> String {
    let s = secs.max(0.0).round() as u64;
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60, s % 60);
    let [ud, uh, um, us] = match lang {
        Lang::En => [" d", " h", " min", " s"],
        Lang::Zh => [" 天", " 小时", " 分钟", " 秒"],
    };
    if d > 0 {
        format!("{d}{ud} {h:02}{uh}")
    } else if h > 0 {
        format!("{h}{uh} {m:02}{um}")
    } else if m > 0 && sec == 0 {
        format!("{m}{um}")
    } else if m > 0 {
        format!("{m}{um} {sec:02}{us}")
    } else {
        format!("{sec}{us}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_both_languages_once() {
        let mut seen = std::collections::BTreeSet::new();
        for (k, en, zh) in WORDS {
            assert!(seen.insert(*k), "{k} twice");
            assert!(!en.is_empty() && !zh.is_empty(), "{k}");
        }
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(45.0, Lang::En), "45 s");
        assert_eq!(duration(1920.0, Lang::En), "32 min");
        assert_eq!(duration(1925.0, Lang::En), "32 min 05 s");
        assert_eq!(duration(3900.0, Lang::En), "1 h 05 min");
        assert_eq!(duration(183_600.0, Lang::Zh), "2 天 03 小时");
        assert_eq!(duration(900.0, Lang::Zh), "15 分钟");
    }
}
