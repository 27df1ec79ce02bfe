// Texts shared by every screen: buttons, states, the shell, the task bar and the login page.
export default {
  "en-US": {
    common: {
      save: "Save", cancel: "Cancel", confirm: "Confirm", delete: "Delete", edit: "Edit", add: "Add",
      create: "Create", copy: "Copy", copied: "Copied", copyFailed: "Copy failed", search: "Search", reset: "Reset",
      refresh: "Refresh", close: "Close", show: "Show", hide: "Hide", loading: "Loading…", noData: "No data",
      yes: "Yes", no: "No", total: "Total {n} records", pageOf: "Page {page} of {pages}", previous: "Previous",
      next: "Next", actions: "Actions", all: "All", success: "Success", failed: "Failed", unknown: "Unknown",
      optional: "optional", required: "Required", view: "View", export: "Export", more: "More",
    },
    nav: {
      dashboard: "Dashboard", keys: "Keys", logs: "Logs", settings: "Settings", logout: "Log out",
      language: "Language", menu: "Menu",
      theme: { auto: "Theme: follow system", light: "Theme: light", dark: "Theme: dark" },
    },
    login: {
      title: "Gateway Admin", subtitle: "AI API gateway control panel", placeholder: "Admin key (AUTH_KEY)",
      submit: "Log in", empty: "Enter the admin key", failed: "Login failed",
    },
    task: {
      KEY_VALIDATION: "Validating keys of group [{group}]", KEY_IMPORT: "Importing keys into group [{group}]",
      KEY_DELETE: "Deleting keys of group [{group}]",
      validationDone: "Key validation completed: processed {total} keys, {valid} valid, {invalid} failed. A failed validation does not blacklist a key at once; it counts towards the blacklist threshold.",
      importDone: "Key import completed: added {added} keys, ignored {ignored}.",
      deleteDone: "Key deletion completed: deleted {deleted} keys, ignored {ignored}.",
      failedTask: "Task failed: {error}", finished: "Task finished",
    },
    footer: { version: "Version {v}", api: "API reference" },
  },
  "zh-CN": {
    common: {
      save: "保存", cancel: "取消", confirm: "确认", delete: "删除", edit: "编辑", add: "添加",
      create: "创建", copy: "复制", copied: "已复制", copyFailed: "复制失败", search: "搜索", reset: "重置",
      refresh: "刷新", close: "关闭", show: "显示", hide: "隐藏", loading: "加载中…", noData: "暂无数据",
      yes: "是", no: "否", total: "共 {n} 条记录", pageOf: "第 {page} / {pages} 页", previous: "上一页",
      next: "下一页", actions: "操作", all: "全部", success: "成功", failed: "失败", unknown: "未知",
      optional: "可选", required: "必填", view: "查看", export: "导出", more: "更多",
    },
    nav: {
      dashboard: "仪表盘", keys: "密钥管理", logs: "日志", settings: "系统设置", logout: "退出登录",
      language: "语言", menu: "菜单",
      theme: { auto: "主题：跟随系统", light: "主题：浅色", dark: "主题：深色" },
    },
    login: {
      title: "网关管理", subtitle: "AI API 网关控制台", placeholder: "管理密钥 (AUTH_KEY)",
      submit: "登录", empty: "请输入管理密钥", failed: "登录失败",
    },
    task: {
      KEY_VALIDATION: "正在验证分组 [{group}] 的密钥", KEY_IMPORT: "正在向分组 [{group}] 导入密钥",
      KEY_DELETE: "正在删除分组 [{group}] 的密钥",
      validationDone: "密钥验证完成：共处理 {total} 个密钥，{valid} 个有效，{invalid} 个失败。验证失败不会立即拉黑密钥，而是计入拉黑阈值。",
      importDone: "密钥导入完成：新增 {added} 个，忽略 {ignored} 个。",
      deleteDone: "密钥删除完成：删除 {deleted} 个，忽略 {ignored} 个。",
      failedTask: "任务失败：{error}", finished: "任务已完成",
    },
    footer: { version: "版本 {v}", api: "API 文档" },
  },
  "ja-JP": {
    common: {
      save: "保存", cancel: "キャンセル", confirm: "確認", delete: "削除", edit: "編集", add: "追加",
      create: "作成", copy: "コピー", copied: "コピーしました", copyFailed: "コピーに失敗しました", search: "検索", reset: "リセット",
      refresh: "更新", close: "閉じる", show: "表示", hide: "非表示", loading: "読み込み中…", noData: "データがありません",
      yes: "はい", no: "いいえ", total: "全 {n} 件", pageOf: "{page} / {pages} ページ", previous: "前へ",
      next: "次へ", actions: "操作", all: "すべて", success: "成功", failed: "失敗", unknown: "不明",
      optional: "任意", required: "必須", view: "表示", export: "エクスポート", more: "その他",
    },
    nav: {
      dashboard: "ダッシュボード", keys: "キー管理", logs: "ログ", settings: "設定", logout: "ログアウト",
      language: "言語", menu: "メニュー",
      theme: { auto: "テーマ：システムに従う", light: "テーマ：ライト", dark: "テーマ：ダーク" },
    },
    login: {
      title: "ゲートウェイ管理", subtitle: "AI API ゲートウェイ管理画面", placeholder: "管理キー (AUTH_KEY)",
      submit: "ログイン", empty: "管理キーを入力してください", failed: "ログインに失敗しました",
    },
    task: {
      KEY_VALIDATION: "グループ [{group}] のキーを検証中", KEY_IMPORT: "グループ [{group}] にキーをインポート中",
      KEY_DELETE: "グループ [{group}] のキーを削除中",
      validationDone: "キー検証完了：{total} 件を処理、有効 {valid} 件、失敗 {invalid} 件。検証の失敗で即座にブラックリストには入らず、しきい値に加算されます。",
      importDone: "キーのインポート完了：追加 {added} 件、無視 {ignored} 件。",
      deleteDone: "キーの削除完了：削除 {deleted} 件、無視 {ignored} 件。",
      failedTask: "タスク失敗：{error}", finished: "タスク完了",
    },
    footer: { version: "バージョン {v}", api: "API リファレンス" },
  },
};
