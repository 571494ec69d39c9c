export {};
//# sourceMappingURL=media-link.js.map