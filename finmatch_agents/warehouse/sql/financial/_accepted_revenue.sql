-- title: (fragment) a customer's annual net revenue: accepted sales x catalogue margin (needs r = records, c = catalogue)
coalesce(sum(r.product_sales_amount * c.margin) FILTER (WHERE r.product_recommendation_status = {{accepted}}), 0)
