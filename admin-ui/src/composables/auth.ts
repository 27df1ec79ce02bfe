// The admin key the user logged in with, kept in localStorage["authKey"] as GPT-Load's UI does
// (the API is stateless: every call sends the key).
import { ref } from "vue";

const STORAGE_KEY = "authKey";

const key = ref<string>(localStorage.getItem(STORAGE_KEY) ?? "");

export const auth = {
  key,
  loggedIn: () => key.value !== "",
  login(value: string) {
    key.value = value;
    localStorage.setItem(STORAGE_KEY, value);
  },
  logout() {
    key.value = "";
    localStorage.removeItem(STORAGE_KEY);
  },
};
