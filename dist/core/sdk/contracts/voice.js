export {};
//# sourceMappingURL=voice.js.map