//! Messages of the admin API in en-US, zh-CN and ja-JP, chosen per request by `Accept-Language`
//! (its first tag: `zh*` → zh-CN, `ja*` → ja-JP, anything else or none → en-US). Localised:
//! success messages, the login answer, setting categories, names and descriptions (settings and
//! group config options). Error messages stay English: they name fields and values, which tools
//! and the UI match on.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use gateway_core::settings_catalogue::SettingCategory;

/// A supported language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Locale {
    /// English (the default).
    EnUs,
    /// Simplified Chinese.
    ZhCn,
    /// Japanese.
    JaJp,
}

impl Locale {
    /// The locale of an `Accept-Language` value.
    pub fn from_accept_language(header: Option<&str>) -> Self {
        let first = header
            .and_then(|h| h.split(',').next())
            .map(|t| {
                t.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        if first.starts_with("zh") {
            Locale::ZhCn
        } else if first.starts_with("ja") {
            Locale::JaJp
        } else {
            Locale::EnUs
        }
    }
}

tokio::task_local! {
    static LOCALE: Locale;
}

/// Middleware: runs the request with the locale of its `Accept-Language`.
pub async fn locale_scope(req: Request, next: Next) -> Response {
    let locale = Locale::from_accept_language(
        req.headers()
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    LOCALE.scope(locale, next.run(req)).await
}

/// The current request's locale (en-US outside a request).
pub fn current() -> Locale {
    LOCALE.try_with(|l| *l).unwrap_or(Locale::EnUs)
}

/// `(en-US, zh-CN, ja-JP)` of every fixed message; the English text is the id. `{n}` is replaced
/// by a number.
const MESSAGES: &[(&str, &str, &str)] = &[
    ("Success", "成功", "成功"),
    ("Failed", "失败", "失敗"),
    ("Invalid Keys", "无效密钥", "無効なキー"),
    (
        "ENCRYPTION_KEY is set but the stored keys are not encrypted",
        "已设置 ENCRYPTION_KEY，但存储的密钥未加密",
        "ENCRYPTION_KEY が設定されていますが、保存されたキーは暗号化されていません",
    ),
    (
        "the stored keys are encrypted but ENCRYPTION_KEY is not set",
        "存储的密钥已加密，但未设置 ENCRYPTION_KEY",
        "保存されたキーは暗号化されていますが、ENCRYPTION_KEY が設定されていません",
    ),
    (
        "the stored keys are encrypted with a different key than ENCRYPTION_KEY",
        "存储的密钥使用了与 ENCRYPTION_KEY 不同的密钥加密",
        "保存されたキーは ENCRYPTION_KEY とは異なるキーで暗号化されています",
    ),
    (
        "some stored keys read back with ENCRYPTION_KEY and others do not",
        "部分存储的密钥可以用 ENCRYPTION_KEY 解密，部分不能",
        "保存されたキーの一部だけが ENCRYPTION_KEY で復号できます",
    ),
    (
        "Authentication successful",
        "认证成功",
        "認証に成功しました",
    ),
    ("Authentication failed", "认证失败", "認証に失敗しました"),
    (
        "Invalid request format",
        "请求格式无效",
        "リクエスト形式が無効です",
    ),
    (
        "Group and related keys deleted successfully",
        "分组及其密钥已删除",
        "グループと関連するキーを削除しました",
    ),
    (
        "Group order saved",
        "分组顺序已保存",
        "グループの並び順を保存しました",
    ),
    (
        "Sub groups added",
        "子分组已添加",
        "サブグループを追加しました",
    ),
    ("Weight updated", "权重已更新", "重みを更新しました"),
    (
        "Sub group removed",
        "子分组已移除",
        "サブグループを削除しました",
    ),
    (
        "{n} keys restored",
        "已恢复 {n} 个密钥",
        "{n} 件のキーを復元しました",
    ),
    (
        "{n} invalid keys cleared",
        "已清除 {n} 个无效密钥",
        "{n} 件の無効なキーを削除しました",
    ),
    (
        "{n} keys cleared",
        "已清除 {n} 个密钥",
        "{n} 件のキーを削除しました",
    ),
    (
        "Settings updated successfully. Configuration will be reloaded in the background across all instances.",
        "设置已更新，所有实例将在后台重新加载配置。",
        "設定を更新しました。すべてのインスタンスでバックグラウンドで再読み込みされます。",
    ),
];

/// `message` in the current locale (itself when it has no translation).
pub fn t(message: &str) -> String {
    let locale = current();
    MESSAGES
        .iter()
        .find(|(en, _, _)| *en == message)
        .map_or(message, |(en, zh, ja)| match locale {
            Locale::EnUs => en,
            Locale::ZhCn => zh,
            Locale::JaJp => ja,
        })
        .to_owned()
}

/// A message with a count: `t(template)` with `{n}` replaced.
pub fn t_count(template: &str, n: usize) -> String {
    t(template).replace("{n}", &n.to_string())
}

/// A settings category title in the current locale.
pub fn category(cat: SettingCategory) -> String {
    let (zh, ja) = match cat {
        SettingCategory::Basic => ("基础设置", "基本設定"),
        SettingCategory::Request => ("请求设置", "リクエスト設定"),
        SettingCategory::Key => ("密钥配置", "キー設定"),
    };
    pick(cat.title(), zh, ja)
}

/// `(key, zh-CN name, zh-CN description, ja-JP name, ja-JP description)` of every setting.
const SETTINGS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "app_url",
        "项目地址",
        "用于显示各分组代理端点的基础 URL",
        "プロジェクト URL",
        "各グループのプロキシエンドポイント表示に使うベース URL",
    ),
    (
        "proxy_keys",
        "全局代理密钥",
        "可调用所有分组的密钥，用逗号分隔",
        "グローバルプロキシキー",
        "すべてのグループを呼び出せるキー（カンマ区切り）",
    ),
    (
        "request_log_retention_days",
        "日志保留天数",
        "超过该天数的请求日志将被删除；0 表示永久保留",
        "ログ保持日数",
        "これより古いリクエストログは削除されます。0 は無期限",
    ),
    (
        "request_log_write_interval_minutes",
        "日志写入间隔（分钟）",
        "缓冲的请求日志多久写入一次；0 表示立即写入",
        "ログ書き込み間隔（分）",
        "バッファされたリクエストログの書き込み間隔。0 は即時",
    ),
    (
        "request_body_log_max_bytes",
        "请求体记录上限（字节）",
        "超过该长度的请求体在日志中被截断，并注明省略了多少",
        "本文記録の上限（バイト）",
        "これより長いリクエスト本文はログで切り詰められ、省略量が記されます",
    ),
    (
        "enable_request_logging",
        "记录请求日志",
        "为每次上游尝试保存一条请求日志（指标不受影响）",
        "リクエストを記録",
        "上流への試行ごとにリクエストログを保存します（メトリクスは常に記録）",
    ),
    (
        "enable_request_body_logging",
        "记录请求体",
        "在每条请求日志中保存请求体（及 User-Agent）",
        "リクエスト本文を記録",
        "各リクエストログに本文（と User-Agent）を保存します",
    ),
    (
        "request_timeout",
        "请求超时（秒）",
        "非流式请求允许的总时长",
        "リクエストタイムアウト（秒）",
        "非ストリーミングリクエスト全体の許容時間",
    ),
    (
        "connect_timeout",
        "连接超时（秒）",
        "与上游建立连接允许的时长",
        "接続タイムアウト（秒）",
        "上流への接続確立の許容時間",
    ),
    (
        "idle_conn_timeout",
        "空闲连接超时（秒）",
        "空闲的上游连接在连接池中保留多久",
        "アイドル接続タイムアウト（秒）",
        "アイドル状態の上流接続をプールに保持する時間",
    ),
    (
        "response_header_timeout",
        "响应头超时（秒）",
        "上游发送响应头允许的时长（流式请求同样适用）",
        "レスポンスヘッダータイムアウト（秒）",
        "上流がレスポンスヘッダーを返すまでの許容時間（ストリームも対象）",
    ),
    (
        "stream_idle_timeout",
        "流空闲超时（秒）",
        "流式响应两个数据块之间允许的最长静默；持续输出的流不会被截断",
        "ストリームアイドルタイムアウト（秒）",
        "ストリーミング応答のチャンク間の最大無通信時間。出力が続くストリームは切断されません",
    ),
    (
        "max_idle_conns",
        "最大空闲连接数",
        "总共保留的上游空闲连接数",
        "最大アイドル接続数",
        "保持する上流アイドル接続の総数",
    ),
    (
        "max_idle_conns_per_host",
        "每主机最大空闲连接数",
        "每个上游主机保留的空闲连接数",
        "ホストごとの最大アイドル接続数",
        "上流ホストごとに保持するアイドル接続数",
    ),
    (
        "proxy_url",
        "出站代理地址",
        "连接上游使用的 HTTP、HTTPS 或 SOCKS5 代理；为空则使用 HTTP_PROXY/HTTPS_PROXY",
        "送信プロキシ URL",
        "上流接続に使う HTTP・HTTPS・SOCKS5 プロキシ。空なら HTTP_PROXY/HTTPS_PROXY",
    ),
    (
        "max_retries",
        "最大重试次数",
        "一次失败后使用其他密钥的额外尝试次数",
        "最大リトライ回数",
        "失敗後に別のキーで追加で試行する回数",
    ),
    (
        "blacklist_threshold",
        "黑名单阈值",
        "密钥被标记为无效前允许的连续失败次数；0 表示从不拉黑",
        "ブラックリストしきい値",
        "キーを無効にするまでの連続失敗回数。0 は無効化しません",
    ),
    (
        "failover_status_codes",
        "故障转移状态码",
        "使本次尝试失败并换用下一个密钥重试的上游状态码，如 400-403,405-999",
        "フェイルオーバーステータスコード",
        "試行を失敗とし次のキーで再試行する上流ステータス（例 400-403,405-999）",
    ),
    (
        "client_error_status_codes",
        "客户端错误状态码",
        "由客户端请求本身导致的状态码：直接返回、不重试、不归咎于密钥或上游（若服务商响应指明是密钥问题则仍计入）",
        "クライアントエラーステータスコード",
        "クライアント自身のリクエストが原因のステータス。そのまま返し、再試行せず、キーや上流の責任にしません（プロバイダーがキーを原因とした場合は除く）",
    ),
    (
        "key_cooldown_seconds",
        "密钥冷却时间（秒）",
        "收到不带 Retry-After 的 429 后密钥暂停使用的时长，之后自动恢复轮换",
        "キーのクールダウン（秒）",
        "Retry-After のない 429 の後にキーを休ませる時間。その後自動でローテーションに戻ります",
    ),
    (
        "upstream_failure_threshold",
        "上游失败阈值",
        "上游被摘除前允许的连续 5xx、超时或连接失败次数；0 表示从不摘除",
        "上流失敗しきい値",
        "上流を除外するまでの連続 5xx・タイムアウト・接続失敗の回数。0 は除外しません",
    ),
    (
        "sub_group_failover",
        "子分组间故障转移",
        "聚合分组：某个子分组的尝试全部失败时，换另一个子分组重试（GPT-Load 只在首个子分组内重试）",
        "サブグループ間フェイルオーバー",
        "集約グループ：あるサブグループの試行がすべて失敗したら、別のサブグループで再試行します（GPT-Load は最初のサブグループ内のみ）",
    ),
    (
        "model_aware_routing",
        "按模型选择子分组",
        "聚合分组：优先选择模型重定向规则中包含所请求模型的子分组，并跳过不提供该模型的严格模式子分组",
        "モデルに応じたサブグループ選択",
        "集約グループ：モデルリダイレクトルールに要求モデルがあるサブグループを優先し、そのモデルを提供しない厳格モードのサブグループを除外します",
    ),
    (
        "group_rpm_limit",
        "分组每分钟请求数",
        "分组每分钟可发往上游的请求数（容量为该数、持续补充的令牌桶）；超出时请求等待或返回带 Retry-After 的 429。集群内合计。0 表示不限制",
        "グループの毎分リクエスト数",
        "グループが毎分上流へ送れるリクエスト数（その数を容量とし連続的に補充されるバケット）。超えるとリクエストは待機するか Retry-After 付きの 429 になります。クラスター全体で数えます。0 は無制限",
    ),
    (
        "group_tpm_limit",
        "分组每分钟令牌数",
        "分组每分钟可使用的令牌数（服务商报告的输入 + 输出）；用完后请求等待或返回 429，直到额度补充。0 表示不限制",
        "グループの毎分トークン数",
        "グループが毎分使えるトークン数（プロバイダーが報告する入力 + 出力）。使い切るとリクエストは補充まで待機するか 429 になります。0 は無制限",
    ),
    (
        "key_rpm_limit",
        "密钥每分钟请求数",
        "每个 API 密钥每分钟可接收的请求数；达到上限的密钥会被跳过，改用仍有余量的密钥。0 表示不限制",
        "キーの毎分リクエスト数",
        "各 API キーが毎分受け取れるリクエスト数。上限に達したキーは飛ばし、余裕のある別のキーを使います。0 は無制限",
    ),
    (
        "key_tpm_limit",
        "密钥每分钟令牌数",
        "每个 API 密钥每分钟可使用的令牌数（以服务商报告为准）；用完额度的密钥在补充前被跳过。0 表示不限制",
        "キーの毎分トークン数",
        "各 API キーが毎分使えるトークン数（プロバイダーの報告による）。使い切ったキーは補充されるまで飛ばします。0 は無制限",
    ),
    (
        "rate_limit_max_wait_seconds",
        "限流等待时间（秒）",
        "请求因限流等待余量的最长时间，超时则返回带 Retry-After 的 429；0 表示立即返回",
        "レート制限の待機時間（秒）",
        "レート制限で空きを待つ最長時間。過ぎると Retry-After 付きの 429 を返します。0 はすぐに返します",
    ),
    (
        "upstream_ejection_seconds",
        "上游摘除时长（秒）",
        "失败上游首次被摘除的时长；之后每次翻倍，最多 32 倍",
        "上流除外時間（秒）",
        "失敗した上流を最初に除外する時間。以降は毎回倍増し、最大 32 倍",
    ),
    (
        "key_validation_interval_minutes",
        "密钥验证间隔（分钟）",
        "多久重新检查一次无效密钥",
        "キー検証間隔（分）",
        "無効なキーを再確認する間隔",
    ),
    (
        "key_validation_concurrency",
        "密钥验证并发数",
        "同时验证的密钥数量",
        "キー検証の同時実行数",
        "同時に検証するキーの数",
    ),
    (
        "key_validation_timeout_seconds",
        "密钥验证超时（秒）",
        "单次验证请求允许的时长",
        "キー検証タイムアウト（秒）",
        "1 回の検証リクエストの許容時間",
    ),
];

/// A setting's name in the current locale (`english` when untranslated).
pub fn setting_name(key: &str, english: &str) -> String {
    match SETTINGS.iter().find(|s| s.0 == key) {
        Some((_, zh, _, ja, _)) => pick(english, zh, ja),
        None => english.to_owned(),
    }
}

/// A setting's description in the current locale (`english` when untranslated).
pub fn setting_description(key: &str, english: &str) -> String {
    match SETTINGS.iter().find(|s| s.0 == key) {
        Some((_, _, zh, _, ja)) => pick(english, zh, ja),
        None => english.to_owned(),
    }
}

fn pick(en: &str, zh: &str, ja: &str) -> String {
    match current() {
        Locale::EnUs => en,
        Locale::ZhCn => zh,
        Locale::JaJp => ja,
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use gateway_core::settings_catalogue::CATALOGUE;

    use super::*;

    #[test]
    fn locale_from_the_first_tag() {
        let l = |h| Locale::from_accept_language(Some(h));
        assert_eq!(l("zh-CN,zh;q=0.9,en;q=0.8"), Locale::ZhCn);
        assert_eq!(l("zh-TW"), Locale::ZhCn);
        assert_eq!(l("ja;q=0.9"), Locale::JaJp);
        assert_eq!(l("en-GB,zh"), Locale::EnUs);
        assert_eq!(l("fr"), Locale::EnUs);
        assert_eq!(Locale::from_accept_language(None), Locale::EnUs);
    }

    #[test]
    fn every_setting_is_translated() {
        for def in &CATALOGUE {
            assert!(
                SETTINGS.iter().any(|s| s.0 == def.key),
                "{} has no zh-CN / ja-JP text",
                def.key
            );
        }
    }

    #[tokio::test]
    async fn messages_follow_the_scope() {
        assert_eq!(t("Group order saved"), "Group order saved");
        let zh = LOCALE.scope(Locale::ZhCn, async { t_count("{n} keys cleared", 3) });
        assert_eq!(zh.await, "已清除 3 个密钥");
        let ja = LOCALE.scope(Locale::JaJp, async { t("Unknown message") });
        assert_eq!(ja.await, "Unknown message");
    }
}
