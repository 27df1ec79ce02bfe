// Texts of the Settings screen: the save bar, field help and validation messages. The names and
// descriptions of the settings themselves come from the server in the user's language.
export default {
  "en-US": {
    settings: {
      title: "System settings",
      save: "Save settings",
      generate: "Generate",
      proxyKeysPlaceholder: "Comma-separated keys, e.g. sk-team-a,sk-team-b",
      defaultValue: "Default: {value}",
      loadFailed: "The settings could not be loaded",
      fixErrors: "{n} field(s) need attention before saving",
      noChanges: "Nothing has changed",
      unsaved: "Unsaved changes",
      errors: {
        required: "This field is required",
        integer: "Enter a whole number",
        min: "Must be at least {min}",
        boolean: "Choose on or off",
      },
    },
  },
  "zh-CN": {
    settings: {
      title: "系统设置",
      save: "保存设置",
      generate: "生成",
      proxyKeysPlaceholder: "多个密钥用英文逗号分隔，例如 sk-team-a,sk-team-b",
      defaultValue: "默认值：{value}",
      loadFailed: "无法加载设置",
      fixErrors: "有 {n} 个字段需要修正后才能保存",
      noChanges: "没有需要保存的修改",
      unsaved: "有未保存的修改",
      errors: {
        required: "此项为必填项",
        integer: "请输入整数",
        min: "不能小于 {min}",
        boolean: "请选择开启或关闭",
      },
    },
  },
  "ja-JP": {
    settings: {
      title: "システム設定",
      save: "設定を保存",
      generate: "生成",
      proxyKeysPlaceholder: "カンマ区切りのキー（例: sk-team-a,sk-team-b）",
      defaultValue: "既定値: {value}",
      loadFailed: "設定を読み込めませんでした",
      fixErrors: "保存する前に {n} 件の項目を修正してください",
      noChanges: "変更はありません",
      unsaved: "未保存の変更があります",
      errors: {
        required: "この項目は必須です",
        integer: "整数を入力してください",
        min: "{min} 以上の値を入力してください",
        boolean: "オンかオフを選んでください",
      },
    },
  },
};
