//! What messages say, as named statements: the few things an
//! acknowledgement, an absence notice, a bot, a bounce or a machine report
//! says, each written as the structure of the statement (who, the verb, the
//! object, a number, a time) rather than one fixed phrase, in English,
//! Chinese (simplified and traditional) and Japanese, with German and French
//! absence notices.
//!
//! Patterns see normalised text ([`super::text::normalise`]): ASCII
//! punctuation, `'` for every apostrophe, single spaces. Wording is one
//! signal among several: the rules in [`super`] weigh it against headers,
//! senders, layout and what the platform says.

use std::sync::LazyLock;

use regex::Regex;

/// A named statement and its pattern.
pub struct Statement {
    pub name: &'static str,
    re: Regex,
}

/// Compiles built-in statements. They are literals in this file, covered by
/// the tests below, so a failure here is a programming error, not bad input.
fn statements(list: &[(&'static str, &str)]) -> Vec<Statement> {
    list.iter()
        .map(|(name, p)| Statement {
            name,
            re: regex::RegexBuilder::new(p).size_limit(1 << 22).build().expect("built-in pattern compiles"),
        })
        .collect()
}

/// The names of the statements in `list` that `text` makes.
pub fn said(list: &[Statement], text: &str) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = list.iter().filter(|s| s.re.is_match(text)).map(|s| s.name).collect();
    names.dedup();
    names
}

/// Whether `text` makes any statement in `list`.
pub fn says(list: &[Statement], text: &str) -> bool {
    list.iter().any(|s| s.re.is_match(text))
}

const TICKET_EN: &str = r"(request|ticket|case|incident|enquiry|inquiry|message|e-?mail|query|submission|question)";
const TICKET_ZH: &str = r"(请求|請求|工单|工單|服务单|服務單|邮件|郵件|问题|問題|反馈|反饋|来信|來信|咨询|諮詢|申请|申請|留言|需求|问询|案件)";

/// An acknowledgement: received, a ticket created (with its number), a
/// person will answer within some time, sent automatically, do not reply.
pub static ACK: LazyLock<Vec<Statement>> = LazyLock::new(|| {
    let en_received = format!(
        r"(?i)\b(we|i)('ve|\s+have|\s+had)?\s+(successfully\s+|now\s+|just\s+)?received\s+your\s+(support\s+|service\s+|new\s+)?{TICKET_EN}"
    );
    let en_passive = format!(
        r"(?i)\byour\s+(support\s+|service\s+)?{TICKET_EN}(\s*\(?\s*(#|no\.?|number|id)?\s*:?\s*[\w-]*\d[\w-]*\s*\)?)?\s+(has\s+been|was|is|have\s+been)\s+(successfully\s+)?(received|created|opened|logged|submitted|registered|recorded|raised)"
    );
    let zh_received = format!(
        r"(已|已经|已經)?(成功)?(收到|受理|接收到|接收)(了)?(您|你|贵司|貴司)(的|提交的|发来的|發來的)?\s*{TICKET_ZH}"
    );
    let zh_passive = format!(
        r"(您|你)(的|提交的|发送的|發送的)\s*{TICKET_ZH}\s*([\[(#]?\s*[\w-]*\d+\s*[\])]?)?\s*(已|已经|已經)(被)?(成功)?(收到|受理|提交|创建|建立|生成|记录|記錄|登记|登記|接收|送出)"
    );
    statements(&[
        ("ack:received", &en_received),
        ("ack:received", &en_passive),
        ("ack:received", &zh_received),
        ("ack:received", &zh_passive),
        (
            "ack:received",
            r"(お問い合わせ|お問合せ|ご連絡|ご依頼|ご質問|ご相談)\s*([(#]?\s*[\w-]*\d+\s*\)?)?\s*(を|内容を)?\s*(受け付けました|受付いたしました|受け付けいたしました|承りました|受信しました)",
        ),
        (
            "ack:ticket-created",
            r"(?i)\b(ticket|request|case|incident)\s*(#|no\.?|number|id)?\s*:?\s*\[?[a-z]{0,6}-?\d{2,}\]?\s+(has\s+been|was|is)\s+(created|received|opened|logged|submitted|raised|registered)",
        ),
        (
            "ack:ticket-created",
            r"(?i)\b(a\s+)?(new\s+)?(support\s+)?(ticket|case|incident|request(\s+for\s+support)?)\s+(has\s+been|was)\s+(created|opened|logged|raised)\b",
        ),
        (
            "ack:ticket-created",
            r"(?i)\b(the\s+)?(system|we)\s+(has|have)\s+(created|opened|logged|raised)\s+(an?\s+)?(new\s+)?(incident|ticket|case|request)",
        ),
        (
            "ack:ticket-created",
            r"(?i)\byour\s+(ticket|case|reference|request|incident)\s+(number|id|no\.?)\s+is\s*:?\s*[#\w-]*\d",
        ),
        (
            "ack:ticket-created",
            r"(?i)\byour\s+(ticket|case|request|incident)\s+has\s+been\s+(assigned|given)\s+(an?\s+)?(id|number|reference)\b",
        ),
        (
            "ack:ticket-created",
            r"(工单|工單|服务单|服務單|请求|請求|案件)(号|號|编号|編號|单号|單號|ID)?\s*[:#]?\s*[\[(]?[A-Za-z]{0,6}-?\d{3,}[\])]?\s*(已|已经|已經)?(成功)?(生成|创建|建立|受理|提交|登记|登記)",
        ),
        (
            "ack:ticket-created",
            r"(已|已经|已經)(为您|為您|帮您|幫您)?(成功)?(生成|创建|建立|提交|登记|登記)(了)?(一个|一個|新的)?\s*(工单|工單|服务单|服務單)",
        ),
        ("ack:ticket-created", r"(工单|工單)(号|號|编号|編號)\s*(为|為|是)\s*:?\s*[\[(]?[A-Za-z]{0,6}-?\d{3,}"),
        (
            "ack:ticket-created",
            r"(チケット|問い合わせ|お問い合わせ)(番号)?\s*[:#]?\s*[A-Za-z]{0,6}-?\d{3,}\s*(が|を|で)?\s*(作成|発行|受付)",
        ),
        (
            "ack:will-respond",
            r"(?i)\b(we|our\s+(support\s+|technical\s+)?(team|agents?|engineers?|staff|specialists?)|someone(\s+from\s+our\s+team)?|an?\s+(support\s+)?(agent|engineer|representative|specialist|member\s+of\s+(our|the)\s+(support\s+)?team))\s+(will|shall|should|aims?\s+to|'ll|is\s+going\s+to|are\s+going\s+to)\s+(\w+\s+){0,3}?(respond|reply|answer|get\s+back(\s+to\s+you)?|be\s+in\s+touch|contact\s+you|follow\s+up|review\s+(it|your)|look\s+into\s+it)\b[^.]{0,40}?\b(within|in)\s+(the\s+next\s+)?(\d+|one|two|three|a\s+few|several)\s*(business\s+|working\s+)?(hours?|days?|minutes?|hrs?|mins?)\b",
        ),
        (
            "ack:will-respond",
            r"(?i)\b(we|our\s+team)\s+(usually|typically|normally|aim\s+to)\s+(respond|reply|answer)s?\s+within\b",
        ),
        (
            "ack:will-respond",
            r"(?i)\ban?\s+(support\s+)?(representative|agent|engineer)\s+will\s+(follow[- ]?up|contact\s+you|respond|reply|get\s+back\s+to\s+you)\s+(with\s+you\s+)?(as\s+soon\s+as\s+possible|shortly|soon)",
        ),
        (
            "ack:will-respond",
            r"(?i)\b(response|reply)\s+times?\s+(is|are)\s+(usually|typically|currently)?\s*(within|under|about|around)\s+\d+",
        ),
        (
            "ack:will-respond",
            r"(将|將|会|會|预计|預計|将会|將會|会在|會在|将在|將在|会于|會於|将于|將於|可在)\s*\S{0,6}?\s*(\d+|一|两|兩|二|三)\s*(个|個)?\s*(小时|小時|工作日|工作天|分钟|分鐘|天|h)\s*(内|內|之内|之內|以内|以內)?\s*\S{0,10}?(回复|回覆|答复|答覆|处理|處理|联系|聯繫|联络|聯絡|响应|響應|跟进|跟進|反馈|反饋|解答)",
        ),
        (
            "ack:will-respond",
            r"(稍后|稍後|随后|隨後|尽快|盡快)\s*(会|會|将|將)?\s*(有)?\s*(专人|專人|工程师|工程師|客服(人员|人員)?|技术支持|技術支持|专员|專員)\s*(与您|與您|跟您|和您|为您|為您)?\s*(联系|聯繫|回复|回覆|处理|處理|跟进|跟進)",
        ),
        ("ack:will-respond", r"\d+\s*(営業日|時間|日)\s*以内に\s*(ご)?(回答|返信|連絡|対応)"),
        (
            "ack:automatic",
            r"(?i)\bthis\s+(is\s+an?\s+)?(automated|automatic|auto-generated|system-generated|computer-generated|automatically\s+generated)\s+(message|response|reply|notification|e-?mail|acknowledge?ment|confirmation)",
        ),
        (
            "ack:automatic",
            r"(?i)\bthis\s+(e-?mail|message|notification)\s+(was|has\s+been|is|is\s+being)\s+(sent\s+)?(automatically|auto-?generated|generated\s+automatically|sent\s+from\s+an\s+unmonitored)",
        ),
        (
            "ack:automatic",
            r"(?i)\bthis\s+(mailbox|inbox|e-?mail\s+address|address)\s+is\s+(not\s+monitored|unmonitored|not\s+checked)",
        ),
        (
            "ack:automatic",
            r"(?i)\bthis\s+(message|e-?mail|notification)\s+has\s+been\s+(automatically\s+generated|generated\s+automatically|sent\s+automatically)",
        ),
        (
            "ack:automatic",
            r"(此|本|该|該|这|這)(封)?\s*(邮件|郵件|消息|信息|訊息|通知|回复|回覆)\s*(为|為|是|由)?\s*(系统|系統)?\s*(自动|自動)\s*(发送|發送|发出|發出|生成|產生|回复|回覆)",
        ),
        ("ack:automatic", r"(系统|系統)\s*(自动|自動)\s*(发送|發送|发出|發出|生成|產生)"),
        (
            "ack:automatic",
            r"(?i)\b(was|has\s+been|have\s+been)\s+automatically\s+(closed|locked|archived|marked|merged|created|resolved)\b",
        ),
        ("ack:automatic", r"(本|この)\s*メールは\s*(送信専用|自動送信|自動配信|自動的に送信|システムより自動)"),
        ("ack:do-not-reply", r"(?i)\b(please\s+)?do\s+not\s+(reply|respond)\s+(to\s+this|directly)"),
        ("ack:do-not-reply", r"(?i)\b(replies|responses)\s+to\s+this\s+(e-?mail|message|address)\s+(are|will)\s+not\b"),
        (
            "ack:do-not-reply",
            r"(请勿|請勿|请不要|請不要|切勿)\s*(直接)?\s*(回复|回覆)|无需回复|無需回覆|不要回复此(邮件|郵件)",
        ),
        (
            "ack:do-not-reply",
            r"(このメール|本メール)に(は)?\s*(ご)?返信\s*(しないで|いただいても|できません|されても|なさらない)",
        ),
    ])
});

/// A notice from a platform that carries no person's words: status
/// changes, satisfaction surveys, "reply to add a comment".
pub static NOTICE: LazyLock<Vec<Statement>> = LazyLock::new(|| {
    statements(&[
        (
            "notice:status",
            r"(?i)\bstatus\s+(of\s+(your|this)\s+(request|ticket|case)\s+)?(has\s+)?(been\s+)?(changed|updated|set)\s+(from\s+.{1,40}?\s+)?to\b",
        ),
        (
            "notice:status",
            r"(?i)\b(your|this)\s+(request|ticket|case|incident|issue)(\s*\(?#?[\w-]*\d+\)?)?\s+(has\s+been|was|is\s+now)\s+(solved|closed|resolved|updated|escalated|reopened|assigned|merged|set\s+to\s+\w+)",
        ),
        (
            "notice:status",
            r"(?i)\b(has|have)\s+(changed|updated)\s+the\s+status\b|\bresolved\s+this\s+as\b|\bchanged\s+the\s+status\s+to\b|\btransitioned\s+(this|the)\s+(request|issue)\b",
        ),
        (
            "notice:status",
            r"(工单|工單|请求|請求)\s*(状态|狀態)\s*(已|已经|已經)?\s*(变更|變更|更新|更改|修改)|(工单|工單|您的请求|您的請求)\s*(已|已经|已經)\s*(被)?\s*(解决|解決|关闭|關閉|完结|完結|更新)",
        ),
        (
            "notice:survey",
            r"(?i)\bhow\s+would\s+you\s+rate\b|\brate\s+(our|the|my)\s+(support|service|reply|response)\b|\bcustomer\s+satisfaction\s+survey\b|\bhow\s+did\s+we\s+do\b|\bplease\s+take\s+a\s+(moment|minute)\s+to\s+(rate|tell\s+us)|\b(good|bad),?\s+I'?m\s+satisfied\b",
        ),
        (
            "notice:survey",
            r"满意度|滿意度|请对(本次|我们的|我們的)?\s*(服务|服務)\s*(进行)?\s*评价|服务评价|服務評價|請為本次服務評分|アンケート|満足度",
        ),
        (
            "notice:list-moderation",
            r"(?i)\b(is\s+being\s+held\s+until\s+the\s+list\s+moderator|awaits\s+moderator\s+approval|your\s+(message|post)\s+(to\s+\S+\s+)?(has\s+been\s+)?(held|rejected|approved)\s+(for|by)\s+(moderation|the\s+moderator))",
        ),
        (
            "notice:reply-to-comment",
            r"(?i)\b(to\s+add\s+(additional|more)\s+comments?,?\s+(simply\s+)?reply\s+to\s+this\s+e-?mail|you\s+can\s+add\s+a\s+comment\s+by\s+replying\s+to\s+this\s+e-?mail|reply\s+to\s+this\s+e-?mail\s+to\s+add\s+a\s+comment)",
        ),
        (
            "notice:reply-to-comment",
            r"(回复此(邮件|电子邮件)|回覆此(郵件|電子郵件))\s*(即可)?\s*(添加|新增)\s*(评论|評論|备注)",
        ),
    ])
});

/// Someone speaking for themselves, or asking for something specific: what
/// a template does not do.
pub static PERSONAL: LazyLock<Vec<Statement>> = LazyLock::new(|| {
    statements(&[
        (
            "personal:first-person",
            r"\bI\s+(am|have|had|will|can|could|would|think|checked|see|saw|looked|tried|reproduced|found|need|want|just|also|don't|do|did|noticed|suspect|believe|suggest|recommend|escalated|asked|spoke|talked)\b|\bI'(m|ve|ll|d)\b",
        ),
        ("personal:first-person", r"我[^们們]|我$|本人|私[はがもの]|わたくし"),
        (
            "personal:asks-for-diagnostics",
            r"(?i)\b(could|can|would|will)\s+you\s+(please\s+)?(send|share|provide|attach|upload|confirm|check|try|enable|tell\s+us|let\s+us\s+know)\b|\bplease\s+(send|share|provide|attach|upload|enable)\s+(us\s+)?(the\s+|your\s+|a\s+|some\s+)?(full\s+|verbose\s+|sdk\s+|debug\s+)?(logs?|versions?|screenshots?|steps|sdk|device|crash|dumps?|traces?|har|pcap|repro)",
        ),
        (
            "personal:asks-for-diagnostics",
            r"(麻烦|麻煩|请|請)(您|你)?\s*(提供|发送|發送|上传|上傳|补充|補充|确认|確認|打开|開啟)\s*\S{0,12}?(日志|日誌|版本|截图|截圖|复现|重現|步骤|步驟|设备|設備|型号|型號|抓包|堆栈|堆疊|崩溃|崩潰|配置)",
        ),
        (
            "personal:asks-for-diagnostics",
            r"(ログ|バージョン|スクリーンショット|再現手順)\s*を\s*(お送り|送って|ご提供|共有|添付)",
        ),
    ])
});

/// A bot or AI assistant introducing itself, or a reply marked as generated.
pub static BOT: LazyLock<Vec<Statement>> = LazyLock::new(|| {
    statements(&[
        // "I'm an AI assistant", "I'm the OctoRTC AI assistant", "I am Acme's virtual assistant".
        (
            "bot:self-introduction",
            r"(?i)\bI('m|\s+am)\s+(an?\s+|the\s+|your\s+)?([\w.',-]+\s+){0,3}?(AI|virtual|automated|digital)\s+(assistant|agent|helper|bot)\b",
        ),
        ("bot:self-introduction", r"(?i)\bas\s+an\s+AI\b|\bI('m|\s+am)\s+(an?\s+)?(chat\s*)?bot\b"),
        ("bot:self-introduction", r"我是\S{0,8}?(智能|AI\s*|虚拟|虛擬|人工智能)(客服)?(助手|机器人|機器人|助理)"),
        ("bot:self-introduction", r"我是\s*(客服)?\s*(助手|机器人|機器人)"),
        ("bot:self-introduction", r"(AIアシスタント|チャットボット|自動応答ボット)です"),
        (
            "bot:generated",
            r"(?i)\bthis\s+(reply|answer|response|message)\s+was\s+(generated|written|drafted)\s+(by|with)\s+(an?\s+)?(AI|artificial\s+intelligence|bot)\b|\b(AI|bot)-generated\s+(answer|reply|response)\b",
        ),
        (
            "bot:generated",
            r"(本|此|以上)(回复|回覆|回答|内容|內容)\s*(由|为|為)\s*(AI|人工智能|智能客服|机器人|機器人)\s*(生成|提供|自动生成)",
        ),
        (
            "bot:menu",
            r"(回复|回覆|输入|輸入)\s*\S?人工\S?\s*\S{0,4}(转|轉)(接)?\s*人工|(?i)\breply\s+['\x22]?(agent|human)['\x22]?\s+to\s+(talk|speak|chat)\s+(to|with)\s+a\s+(person|human|agent)",
        ),
    ])
});

/// An author name that is a bot's.
pub static BOT_NAME: LazyLock<Vec<Statement>> = LazyLock::new(|| {
    statements(&[
        (
            "bot:author-name",
            r"(?i)\b(answer\s*bot|chat\s*bot|bot|ai\s+(agent|assistant)|virtual\s+(agent|assistant)|support\s+assistant)\b|\[bot\]$",
        ),
        ("bot:author-name", r"机器人|機器人|智能客服|智能助手|AI\s*助手|小助手|智能助理|ボット|AIアシスタント"),
    ])
});

/// An absence notice.
pub static OOO: LazyLock<Vec<Statement>> = LazyLock::new(|| {
    statements(&[
        (
            "ooo:away",
            r"(?i)\b(out\s+of\s+(the\s+)?office|on\s+(annual\s+|sick\s+|parental\s+|maternity\s+|paternity\s+|public\s+|business\s+)?(leave|holidays?|vacation|travel)|away\s+from\s+(the\s+|my\s+)?(office|desk)|limited\s+(access\s+to\s+)?(e-?mail|my\s+e-?mail)|(will\s+be|I'll\s+be|I\s+am|I'm)\s+back\s+(on|in|at|from)|returning\s+(on|to\s+the\s+office)|currently\s+(away|travell?ing|unavailable)|with\s+(limited|no)\s+access\s+to)\b",
        ),
        (
            "ooo:away",
            r"不在办公室|不在辦公室|休假|请假|請假|出差|外出|年假|假期|返回办公室|回到办公室|返岗|返崗|无法及时回复|無法及時回覆",
        ),
        (
            "ooo:away",
            r"不在(に)?(しております|です|にしています)|休暇|出張中|外出しております|不在通知|夏季休暇|年末年始",
        ),
        ("ooo:away", r"(?i)\b(abwesend|nicht\s+im\s+b(ü|ue)ro|urlaub|en\s+cong(é|e)|absent(e)?\s+(du|jusqu))"),
    ])
});

/// How an absence notice starts (a person's reply does not open like this).
pub static OOO_OPENER: LazyLock<Vec<Statement>> = LazyLock::new(|| {
    statements(&[
        (
            "ooo:opener",
            r"(?i)^\s*((hello|hi|dear\s+\w+)[,.!]?\s*)?(thank\s+you|thanks)\s+for\s+your\s+(e-?mail|message)[.!,]?\s*(I\s+am|I'm|I\s+will\s+be)\s+(currently\s+)?(out\s+of\s+(the\s+)?office|away|on\s+(annual\s+|sick\s+)?leave|on\s+(vacation|holiday)|travell?ing)",
        ),
        (
            "ooo:opener",
            r"(?i)^\s*(I\s+am|I'm)\s+(currently\s+)?(out\s+of\s+(the\s+)?office|away\s+from\s+(the\s+|my\s+)?office|on\s+(annual\s+|sick\s+|parental\s+)?leave|on\s+(vacation|holiday))",
        ),
        (
            "ooo:opener",
            r"^\s*((您好|你好)[,!.]?\s*)?(我|本人)\s*(目前|现在|現在|正在|这段时间|這段時間|目前正在)?\s*(在)?\s*(休假|出差|请假|請假|外出|不在办公室|不在辦公室)",
        ),
        (
            "ooo:opener",
            r"^\s*(这是|這是|此为|此為)?\s*(一封)?\s*(来自\S{0,10})?\s*(假期)?\s*(自动回复|自動回覆)\s*(邮件|郵件)?",
        ),
        ("ooo:opener", r"^\s*(ただいま|現在)?\s*(不在|休暇|出張)"),
    ])
});

pub static OOO_SUBJECT: LazyLock<Vec<Statement>> = LazyLock::new(|| {
    statements(&[
        (
            "ooo:subject",
            r"(?i)^\s*(\[[^\]]*\]\s*)?(auto(matic)?[- ]?(reply|response|answer)|autoreply|out\s+of\s+(the\s+)?office|ooo\b|away\s+from\s+(the\s+)?office|vacation|on\s+vacation|on\s+leave|abwesenheitsnotiz|automatische\s+antwort|r(é|e)ponse\s+automatique|absence)",
        ),
        ("ooo:subject", r"(?i)\bis\s+out\s+of\s+(the\s+)?office\b"),
        (
            "ooo:subject",
            r"^\s*(\[[^\]]*\]\s*)?(自动回复|自動回覆|自动答复|自動答覆|自動応答|自動返信|休假|不在办公室|不在辦公室|外出|不在通知)",
        ),
    ])
});

pub static ACK_SUBJECT: LazyLock<Vec<Statement>> = LazyLock::new(|| {
    statements(&[
        (
            "ack:subject",
            r"(?i)^\s*(\[[^\]]*\]\s*)*(re:\s*)?(request\s+received|ticket\s+received|ticket\s+created|case\s+created|we('ve|\s+have)\s+received|thank\s+you\s+for\s+contacting|your\s+(request|ticket|case)\s+(has\s+been|was)\s+(received|created|logged))",
        ),
        (
            "ack:subject",
            r"(?i)\b(incident|case|ticket|request)\s+[a-z]*-?\d+\s+has\s+been\s+(opened|created|logged|received)",
        ),
        (
            "ack:subject",
            r"(工单|工單)\s*(已|已经)?\s*(受理|创建|生成|提交|建立)|已收到您的|受付完了|受付のお知らせ|お問い合わせを受け付けました",
        ),
    ])
});

/// A bounce's subject.
pub static BOUNCE_SUBJECT: LazyLock<Vec<Statement>> = LazyLock::new(|| {
    statements(&[
        (
            "bounce:subject",
            r"(?i)^\s*(undeliver(able|ed)(\s+mail)?|delivery\s+status\s+notification\s*\((failure|delay)\)|returned\s+mail|mail\s+delivery\s+(failed|failure|subsystem|system)|failure\s+notice|delivery\s+failure|non-?deliver(y|able)|mail\s+system\s+error|delivery\s+(notification|report):\s*delivery\s+has\s+failed|message\s+(not\s+delivered|undeliverable|delivery\s+failed)|could\s+not\s+send\s+message|warning:\s+could\s+not\s+send|mail\s+returned|undelivered\s+mail\s+returned\s+to\s+sender)",
        ),
        (
            "bounce:subject",
            r"^\s*(退信|系统退信|系統退信|退信通知|邮件投递失败|郵件投遞失敗|无法投递|無法投遞|無法傳遞|投递失败|投遞失敗|发送失败|發送失敗|邮件被退回|郵件被退回)",
        ),
        (
            "bounce:subject",
            r"^\s*(配信不能|配信エラー|配信失敗|不達|送信エラー|宛先不明|メール配信エラー|Mail\s+Delivery\s+Failure)",
        ),
    ])
});

/// Words only mail delivery software writes.
pub static BOUNCE_TRANSCRIPT: LazyLock<Vec<Statement>> = LazyLock::new(|| {
    statements(&[
        (
            "bounce:transcript",
            r"(?i)this\s+message\s+was\s+created\s+automatically\s+by\s+mail\s+delivery\s+software|this\s+is\s+the\s+mail\s+system\s+at\s+host|hi\.\s+this\s+is\s+the\s+qmail-send\s+program|the\s+original\s+message\s+was\s+received\s+at\s|i'm\s+sorry\s+to\s+have\s+to\s+inform\s+you\s+that\s+your\s+message\s+could\s+not|delivery\s+has\s+failed\s+to\s+these\s+recipients|an\s+error\s+occurred\s+while\s+trying\s+to\s+deliver\s+the\s+mail\s+to\s+the\s+following\s+recipients|the\s+following\s+addresses\s+had\s+permanent\s+fatal\s+errors|your\s+message\s+(wasn't|was\s+not|couldn't\s+be|could\s+not\s+be)\s+delivered\s+to\b|this\s+is\s+an\s+automatically\s+generated\s+delivery\s+status\s+notification|delivery\s+to\s+the\s+following\s+recipients?\s+failed",
        ),
        (
            "bounce:transcript",
            r"您(发送|發送)的(邮件|郵件)\s*(被|已被)?\s*(系统|系統)?\s*退回|退信原因|(邮件|郵件)(投递|投遞)失败|(该|此|該)(邮件|郵件)(无法|無法)(送达|送達|投递|投遞)|无法(发送|投递)到|被(系统|系統)退回",
        ),
        (
            "bounce:transcript",
            r"(配信|送信)(することが)?できませんでした|宛先(が)?(不明|見つかりません)|メールを配信できません",
        ),
    ])
});

/// What an SMTP refusal looks like.
pub static SMTP_REFUSAL: LazyLock<Vec<Statement>> = LazyLock::new(|| {
    statements(&[
        ("bounce:smtp-status", r"\b[45][0-9]{2}[ -][245]\.[0-9]{1,3}\.[0-9]{1,3}\b"),
        (
            "bounce:smtp-status",
            r"(?i)\b5[0-9]{2}\b.{0,80}\b(user\s+unknown|unknown\s+user|no\s+such\s+user|mailbox\s+(unavailable|not\s+found|full|does\s+not\s+exist)|recipient\s+(rejected|not\s+found|address\s+rejected)|does\s+not\s+exist|invalid\s+recipient|relay\s+access\s+denied|message\s+rejected)",
        ),
        (
            "bounce:smtp-status",
            r"(?i)\b(address\s+not\s+found|user\s+unknown|recipient\s+address\s+rejected|mailbox\s+unavailable|no\s+such\s+(user|recipient))\b",
        ),
    ])
});

/// Reports that machines write without saying so in headers: commits,
/// builds, scheduled jobs, monitoring alerts.
pub static MACHINE_SUBJECT: LazyLock<Vec<Statement>> = LazyLock::new(|| {
    statements(&[
        ("machine:cron", r"(?i)^\s*cron\s*<[^>]+>"),
        (
            "machine:alert",
            r"(?i)\[(firing|resolved)(:\d+)?\]|^\s*\*\*\s*(problem|recovery|acknowledgement|flapping\w*)\s+(service|host)\s+alert|^\s*(problem|resolved)\s*:\s+\S.{0,120}\b(on|is)\s+\S+",
        ),
        (
            "machine:build",
            r"(?i)\bbuild\s+(failed|fixed|succeeded|unstable|broken|is\s+back\s+to\s+normal)\b|\b(pipeline|workflow|job|run|check)\s+(failed|passed|succeeded|cancell?ed)\b",
        ),
        ("machine:commit", r"(?i)^\s*\[[\w./-]+\]\s+[0-9a-f]{7,40}:\s|\b\d+\s+new\s+commits?\s+(pushed|to)\b"),
    ])
});

pub static MACHINE_BODY: LazyLock<Vec<Statement>> = LazyLock::new(|| {
    statements(&[
        (
            "machine:commit",
            r"(?im)^\s*commit:\s*[0-9a-f]{7,40}\b[\s\S]{0,400}^\s*(author|branch|changed\s+paths|log\s+message):",
        ),
        (
            "machine:commit",
            r"(?im)^\s*@?[\w-]+\s+(pushed|force-pushed)\s+\d+\s+commits?\b|\bpushed\s+a\s+commit\s+that\s+referenced\s+this\s+issue\b|^\s*@?[\w-]+\s+referenced\s+this\s+issue\s+(in|from)\b",
        ),
        (
            "machine:alert",
            r"(?im)^\s*notification\s+type:\s*(problem|recovery|acknowledgement)\b|^\s*-\s*alertname\s*=|^\s*alertname:\s*\S|^\s*(trigger|event)\s+(status|severity):\s*\S",
        ),
        (
            "machine:build",
            r"(?im)^\s*build\s+url:\s*https?://|see\s+<?https?://\S+/job/\S+/\d+/?>?\s+(for|to\s+view)\s+|^\s*[\w .-]+:\s+all\s+jobs\s+(have\s+)?(failed|passed|succeeded|been\s+cancell?ed)|^\s*view\s+workflow\s+run:\s*https?://",
        ),
        (
            "machine:state-change",
            r"(?im)^\s*(merged|closed|reopened)\s+#\d+\b|^\s*(closed|reopened)\s+this\s+(issue|pull\s+request)?\s*(as\s+(completed|not\s+planned))?\.?\s*$|^\s*@?[\w-]+\s+(closed|reopened|locked|unlocked|assigned|labeled)\s+(this|#\d+)",
        ),
    ])
});

/// Sender mailboxes that machines use.
pub fn machine_sender(local: &str) -> bool {
    matches!(
        local,
        "alerts"
            | "alert"
            | "alerting"
            | "monitoring"
            | "monitor"
            | "nagios"
            | "zabbix"
            | "icinga"
            | "prometheus"
            | "alertmanager"
            | "grafana"
            | "jenkins"
            | "ci"
            | "build"
            | "builds"
            | "buildbot"
            | "cron"
            | "root"
            | "daemon"
            | "git"
            | "gitlab"
            | "svn"
            | "sentry"
            | "pagerduty"
            | "opsgenie"
            | "datadog"
            | "statuspage"
            | "status"
            | "system"
            | "automation"
            | "scheduler"
    )
}

/// Whether most of the first lines are `Key: value` pairs (a machine report's shape).
pub fn key_value_shaped(text: &str) -> bool {
    static KV: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^\s*[A-Za-z][\w /().-]{1,30}:\s+\S").expect("built-in pattern compiles"));
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).take(12).collect();
    let kv = lines.iter().filter(|l| KV.is_match(l)).count();
    lines.len() >= 4 && kv * 2 >= lines.len()
}

#[cfg(test)]
mod tests {
    use super::super::text::normalise;
    use super::*;

    fn ack(t: &str) -> Vec<&'static str> {
        said(&ACK, &normalise(t))
    }

    #[test]
    fn acknowledgements_in_many_word_orders() {
        for t in [
            "We\u{2019}ve received your request and will respond within 24 hours.",
            "Your request (35436) has been received and is being reviewed by our support staff.",
            "Your support ticket #4521 has been created.",
            "Ticket INC-20931 was logged for you.",
            "The system has created incident IM-100234 for you.",
            "Your case number is 00001234.",
            "A member of our support team will get back to you within 1 business day.",
            "Our engineers will respond to you in the next 4 hours.",
            "This is an automated message, please do not reply.",
            "This mailbox is not monitored.",
            "您好,您的工单已生成,我们会在24小时内处理.",
            "您好，我们已收到您的问题，工程师将于2个工作日内与您联系。",
            "已为您创建工单，工单号为 YX-20261123。",
            "工单号：YX-1234 已受理。",
            "您的反馈已经成功提交，我们预计在 4 小时内回复您。",
            "稍后会有专人与您联系。",
            "此邮件为系统自动发送，请勿直接回复。",
            "本郵件由系統自動發送,請勿直接回覆.",
            "您的請求已受理，我們將在1個工作天內回覆。",
            "お問い合わせを受け付けました。2営業日以内にご回答いたします。",
            "本メールは送信専用です。このメールには返信しないでください。",
        ] {
            assert!(!ack(t).is_empty(), "not an acknowledgement: {t}");
        }
        for t in [
            "Thanks for contacting Travis-CI Support! We would love to help.",
            "About ticket 123: the fix ships in 4.2.1.",
            "收到，我们正在排查，请提供一下 SDK 日志。",
            "We found the cause: the reconnect timeout is 8 s. Please upgrade to 4.2.1.",
            "The build on our side is green now.",
            "ログを送っていただけますか。",
        ] {
            assert!(ack(t).is_empty(), "not an acknowledgement, but matched {:?}: {t}", ack(t));
        }
    }

    #[test]
    fn people_and_bots_and_absences() {
        let n = |l: &[Statement], t: &str| says(l, &normalise(t));
        assert!(n(&PERSONAL, "I checked the logs; could you send the SDK version?"));
        assert!(n(&PERSONAL, "我看了一下日志，麻烦提供一下 SDK 版本。"));
        assert!(!n(&PERSONAL, "我们会在24小时内处理。"));
        assert!(
            n(&BOT, "您好，我是云信智能助手。")
                && n(&BOT, "I'm the OctoRTC AI assistant.")
                && n(&BOT, "我是客服机器人")
        );
        assert!(n(&BOT, "Hi, I am Acme's virtual assistant."));
        assert!(!n(&BOT, "我是客户经理助理小王") && !n(&BOT, "I'm the AI team lead") && !n(&BOT, "我是技术支持王工"));
        assert!(n(&OOO_OPENER, "Thank you for your email. I am currently out of the office until Monday."));
        assert!(n(&OOO_OPENER, "您好，我目前正在休假，12月1日返回。"));
        assert!(!n(&OOO_OPENER, "Thanks for the logs. I was out of office yesterday, looking now."));
        assert!(n(&BOUNCE_SUBJECT, "Undelivered Mail Returned to Sender") && n(&BOUNCE_SUBJECT, "系统退信"));
        assert!(!n(&BOUNCE_SUBJECT, "Re: Undelivered Mail Returned to Sender"));
        assert!(n(&MACHINE_SUBJECT, "Cron <root@db1> /usr/local/bin/backup.sh"));
        assert!(n(&MACHINE_SUBJECT, "[FIRING:2] HighCallDropRate (prod)"));
        assert!(!n(&MACHINE_SUBJECT, "Re: [SP-7K3Q9X2M] PRODUCTION DOWN: calls drop"));
        assert!(key_value_shaped("Host: db1\nService: HTTP\nState: CRITICAL\nInfo: timeout\nDate: now"));
        assert!(!key_value_shaped("Hi,\nplease send logs.\nThanks: Alex"));
    }
}
