export {};
//# sourceMappingURL=crm.js.map